package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/apitoken/apitoken"
)

// demoUsers is the users file that the server uses when -users is not
// given.
//
//go:embed demo_users.json
var demoUsers []byte

// usersFile is the content of a users file: the roles with their
// permissions, and the users.
type usersFile struct {
	Roles map[string][]string `json:"roles"`
	Users []userEntry         `json:"users"`
}

type userEntry struct {
	ID       string `json:"id"`
	Tenant   string `json:"tenant"`
	Role     string `json:"role"`
	SSO      bool   `json:"sso"`
	Disabled bool   `json:"disabled"`
}

// Role names that carry administrator powers. Every other role is
// apitoken.RoleMember.
const (
	roleAdministrator       = "administrator"
	roleGlobalAdministrator = "global_administrator"
)

// loadUsers reads the users file at path, or the demo users when path is
// empty.
func loadUsers(path string) (*usersFile, error) {
	if path == "" {
		return parseUsers(demoUsers, "built-in demo users")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	return parseUsers(data, path)
}

// parseUsers decodes and checks a users file. Unknown fields, unknown
// roles, duplicate users and users without an ID or tenant are errors, so
// that a typo stops the server instead of locking a user out.
func parseUsers(data []byte, source string) (*usersFile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f usersFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("users file %s is not valid: %s: see examples/server/demo_users.json for the format", source, describeJSONError(data, err))
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("users file %s is not valid: it contains more than one JSON value", source)
	}
	if len(f.Roles) == 0 {
		return nil, fmt.Errorf("users file %s defines no roles: add a \"roles\" object that maps role names to permissions", source)
	}

	seen := map[string]bool{}
	for i, u := range f.Users {
		switch {
		case u.ID == "":
			return nil, fmt.Errorf("users file %s: user %d has no \"id\"", source, i+1)
		case u.Tenant == "":
			return nil, fmt.Errorf("users file %s: user %q has no \"tenant\"", source, u.ID)
		case seen[u.ID]:
			return nil, fmt.Errorf("users file %s: user %q is listed twice: keep one entry", source, u.ID)
		}
		if _, ok := f.Roles[u.Role]; !ok {
			return nil, fmt.Errorf("users file %s: user %q has unknown role %q: use one of %q", source, u.ID, u.Role, slices.Sorted(maps.Keys(f.Roles)))
		}
		seen[u.ID] = true
	}
	return &f, nil
}

// describeJSONError rewords a decoding error of a users file with the
// line and column of the fault and JSON type names, because encoding/json
// gives a byte offset and the Go types of this program.
func describeJSONError(data []byte, err error) string {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("%s: %v", jsonPosition(data, syntaxErr.Offset), err)
	case errors.As(err, &typeErr):
		where := "at the top level"
		if typeErr.Field != "" {
			where = fmt.Sprintf("in %q", typeErr.Field)
		}
		return fmt.Sprintf("%s: found a JSON %s %s where %s is expected",
			jsonPosition(data, typeErr.Offset), typeErr.Value, where, jsonTypeName(typeErr.Type))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the file ends inside a JSON value"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return err.Error() + ` (the file has "roles" and "users", and a user has "id", "tenant", "role", "sso" and "disabled")`
	}
	return err.Error()
}

// jsonPosition returns the 1-based line and column of the last byte that
// the decoder read before it failed, offset being the count of bytes read.
func jsonPosition(data []byte, offset int64) string {
	offset = min(max(offset-1, 0), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	column := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, column)
}

// jsonTypeName returns the JSON name of the values that decode into t.
func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	}
	return "a " + t.String()
}

// roleLevel returns the power that a role name carries.
func roleLevel(role string) apitoken.Role {
	switch role {
	case roleAdministrator:
		return apitoken.RoleAdmin
	case roleGlobalAdministrator:
		return apitoken.RoleGlobalAdmin
	}
	return apitoken.RoleMember
}

// userDirectory is the service's own record of its users. It keeps the
// role name of every user, which apitoken.Directory does not return, and
// copies every change into the apitoken.Directory that the Manager reads.
type userDirectory struct {
	policy *apitoken.Directory

	mu    sync.Mutex
	users map[string]apitoken.DirectoryUser
}

func newUserDirectory(f *usersFile) (*userDirectory, error) {
	roles := make(map[string]apitoken.RoleDefinition, len(f.Roles))
	for name, perms := range f.Roles {
		roles[name] = apitoken.RoleDefinition{Level: roleLevel(name), Permissions: perms}
	}
	policy, err := apitoken.NewDirectory(roles)
	if err != nil {
		return nil, err
	}
	d := &userDirectory{policy: policy, users: make(map[string]apitoken.DirectoryUser, len(f.Users))}
	for _, u := range f.Users {
		entry := apitoken.DirectoryUser{ID: u.ID, TenantID: u.Tenant, Role: u.Role, Disabled: u.Disabled, SSO: u.SSO}
		if err := policy.PutUser(entry); err != nil {
			return nil, err
		}
		d.users[u.ID] = entry
	}
	return d, nil
}

// get returns the entry of a user.
func (d *userDirectory) get(id string) (apitoken.DirectoryUser, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[id]
	return u, ok
}

// put stores the entry of a user in both directories.
func (d *userDirectory) put(u apitoken.DirectoryUser) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.policy.PutUser(u); err != nil {
		return err
	}
	d.users[u.ID] = u
	return nil
}

// remove deletes a user from both directories.
func (d *userDirectory) remove(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.policy.RemoveUser(id)
	delete(d.users, id)
}
