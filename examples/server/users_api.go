package main

import (
	"fmt"
	"net/http"

	"github.com/apitoken/apitoken"
)

// The user endpoints change the service's directory and then report the
// change to the Manager, which applies it to the user's stored tokens.
// Verification reads the directory on every request, so the change takes
// effect even if the cascade fails, and repeating the request repeats the
// cascade.

type userJSON struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
	SSO      bool   `json:"sso"`
}

type userChange struct {
	User userJSON `json:"user"`
	// TokensChanged counts the tokens that the cascade disabled, changed
	// or deleted.
	TokensChanged int `json:"tokens_changed"`
}

// cascadeFunc applies a user change to the user's tokens and returns how
// many it changed.
type cascadeFunc func(r *http.Request, actorID string, target apitoken.DirectoryUser) (int, error)

// changeUser loads the target user, checks that the actor administers
// them, applies change to the directory entry, stores it and runs the
// cascade.
func (s *server) changeUser(w http.ResponseWriter, r *http.Request, actor apitoken.User, change func(*apitoken.DirectoryUser) error, cascade cascadeFunc) error {
	s.userChanges.Lock()
	defer s.userChanges.Unlock()

	target, err := s.administeredUser(r, actor)
	if err != nil {
		return err
	}
	if err := change(&target); err != nil {
		return err
	}
	if err := s.users.put(target); err != nil {
		return err
	}
	n := 0
	if cascade != nil {
		if n, err = cascade(r, actor.ID, target); err != nil {
			return fmt.Errorf("user %q was changed, but updating their tokens failed (repeat the request): %w", target.ID, err)
		}
	}
	writeJSON(w, http.StatusOK, userChange{User: toUserJSON(target), TokensChanged: n})
	return nil
}

// administeredUser returns the user named in the path if the actor may
// change them. Only administrators of the user's tenant and global
// administrators may, and users of tenants the actor does not administer
// are reported as not found, as tokens are. A user whose role carries
// more power than the actor's is forbidden.
func (s *server) administeredUser(r *http.Request, actor apitoken.User) (apitoken.DirectoryUser, error) {
	id := r.PathValue("id")
	if actor.Role == apitoken.RoleMember {
		return apitoken.DirectoryUser{}, fmt.Errorf("%w: user %q is not an administrator, and only administrators may change users", apitoken.ErrForbidden, actor.ID)
	}
	target, ok := s.users.get(id)
	if !ok || !actor.Administers(target.TenantID) {
		return apitoken.DirectoryUser{}, fmt.Errorf("%w: user %q", apitoken.ErrUnknownUser, id)
	}
	if roleLevel(target.Role) > actor.Role {
		return apitoken.DirectoryUser{}, fmt.Errorf("%w: user %q is a %s, above %s %q: only a user of at least that level may change them",
			apitoken.ErrForbidden, target.ID, roleLevel(target.Role), actor.Role, actor.ID)
	}
	return target, nil
}

func toUserJSON(u apitoken.DirectoryUser) userJSON {
	return userJSON{ID: u.ID, TenantID: u.TenantID, Role: u.Role, Disabled: u.Disabled, SSO: u.SSO}
}

func (s *server) disableUser(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	return s.changeUser(w, r, actor,
		func(u *apitoken.DirectoryUser) error { u.Disabled = true; return nil },
		func(r *http.Request, actorID string, u apitoken.DirectoryUser) (int, error) {
			return s.manager.DisableOwner(r.Context(), actorID, u.ID)
		})
}

// enableUser enables a user. Their tokens stay disabled, and the owner
// enables the ones they still need.
func (s *server) enableUser(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	return s.changeUser(w, r, actor,
		func(u *apitoken.DirectoryUser) error { u.Disabled = false; return nil },
		nil)
}

func (s *server) changeRole(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	var req struct {
		Role string `json:"role"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var perms []string
	return s.changeUser(w, r, actor,
		func(u *apitoken.DirectoryUser) error {
			var ok bool
			if perms, ok = s.users.policy.RolePermissions(req.Role); !ok {
				return badRequest("role %q is not defined in the users file", req.Role)
			}
			// Without this check an administrator of one tenant could make
			// themself a global administrator of every tenant.
			if roleLevel(req.Role) > actor.Role {
				return fmt.Errorf("%w: role %q carries %s powers, above those of %s %q: ask a user of that level",
					apitoken.ErrForbidden, req.Role, roleLevel(req.Role), actor.Role, actor.ID)
			}
			u.Role = req.Role
			return nil
		},
		func(r *http.Request, actorID string, u apitoken.DirectoryUser) (int, error) {
			return s.manager.RestrictOwner(r.Context(), actorID, u.ID, perms)
		})
}

func (s *server) switchToSSO(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	return s.changeUser(w, r, actor,
		func(u *apitoken.DirectoryUser) error { u.SSO = true; return nil },
		func(r *http.Request, actorID string, u apitoken.DirectoryUser) (int, error) {
			return s.manager.SwitchOwnerToSSO(r.Context(), actorID, u.ID)
		})
}

func (s *server) deleteUser(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	s.userChanges.Lock()
	defer s.userChanges.Unlock()

	target, err := s.administeredUser(r, actor)
	if err != nil {
		return err
	}
	s.users.remove(target.ID)
	n, err := s.manager.DeleteOwner(r.Context(), actor.ID, target.ID)
	if err != nil {
		// Keep the user, so that repeating the request finds them and
		// deletes their tokens.
		if putErr := s.users.put(target); putErr != nil {
			s.log.ErrorContext(r.Context(), "restoring a user after a failed delete failed", "user", target.ID, "error", putErr)
		}
		return fmt.Errorf("deleting the tokens of user %q failed, so the user was kept (repeat the request): %w", target.ID, err)
	}
	writeJSON(w, http.StatusOK, struct {
		TokensDeleted int `json:"tokens_deleted"`
	}{n})
	return nil
}

func (s *server) importLegacy(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	var req struct {
		UUID   string `json:"uuid"`
		Secret string `json:"secret"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	target, err := s.administeredUser(r, actor)
	if err != nil {
		return err
	}
	res, err := s.manager.ImportLegacy(r.Context(), actor.ID, apitoken.LegacyImport{OwnerID: target.ID, UUID: req.UUID, Secret: req.Secret})
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !res.Created {
		status = http.StatusOK
	}
	writeJSON(w, status, struct {
		Token tokenJSON `json:"token"`
	}{s.tokenJSON(res.Token)})
	return nil
}
