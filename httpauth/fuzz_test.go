package httpauth

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
)

// FuzzExtractCredentials feeds arbitrary header values and query strings
// to the credential extraction. The bits of present choose which headers
// the request carries and which options are set:
//
//	bit 0, 1  first and second Authorization header
//	bit 2, 3  first and second token header (both carry token)
//	bit 4, 5  legacy UUID and secret headers
//	bit 6     AllowQueryToken
//	bit 7     DisableBearer
func FuzzExtractCredentials(f *testing.F) {
	const value = "apt_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG0a1b2c"
	f.Add("Bearer "+value, "", "", "", "", "", uint8(0b0000_0001))
	f.Add("bearer   "+value+" ", "", "", "", "", "", uint8(0b0000_0001))
	f.Add("Basic Ym9iOnNlY3JldA==", "Bearer "+value, "", "", "", "", uint8(0b0000_0011))
	f.Add("", "", value, "", "", "", uint8(0b0000_1100))
	f.Add("", "", "", "0d6e8d4c-3c1f-4a52-9f0e-2b7a4f1e9c11", "s3cret", "", uint8(0b0011_0000))
	f.Add("", "", "", "", "", "a=1&access_token="+value, uint8(0b0100_0000))
	f.Add("Bearer "+value, "", "", "", "", "", uint8(0b1000_0001))
	f.Add("Bearer", "", "\xff", "", "", "access_token=%zz", uint8(0b0100_0101))

	f.Fuzz(func(t *testing.T, auth1, auth2, token, uuid, secret, rawQuery string, present uint8) {
		c, err := newConfig(Options{AllowQueryToken: present&(1<<6) != 0, DisableBearer: present&(1<<7) != 0})
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		for i, hd := range []struct{ name, value string }{
			{"Authorization", auth1},
			{"Authorization", auth2},
			{DefaultTokenHeader, token},
			{DefaultTokenHeader, token},
			{DefaultLegacyUUIDHeader, uuid},
			{DefaultLegacySecretHeader, secret},
		} {
			if present&(1<<i) != 0 {
				h.Add(hd.name, hd.value)
			}
		}

		creds, aerr := extractCredentials(h, rawQuery, c)
		if aerr != nil {
			checkRejection(t, aerr, auth1, auth2, token, uuid, secret, rawQuery)
			return
		}
		checkCredentials(t, creds, h, c, rawQuery)
	})
}

func checkRejection(t *testing.T, aerr *authError, inputs ...string) {
	t.Helper()
	if aerr.code != "" && aerr.code != codeInvalidRequest {
		t.Errorf("error code %q, want \"\" or %q", aerr.code, codeInvalidRequest)
	}
	if aerr.message == "" || aerr.reason == "" {
		t.Errorf("rejection without message or reason: %+v", aerr)
	}
	for _, in := range inputs {
		// Shorter inputs could match the fixed wording of a message.
		if len(in) >= 32 && strings.Contains(aerr.message, in) {
			t.Errorf("message of reason %q repeats an input", aerr.reason)
		}
	}
}

func checkCredentials(t *testing.T, creds credentials, h http.Header, c *config, rawQuery string) {
	t.Helper()
	switch creds.method {
	case apitoken.MethodToken, apitoken.MethodBearer:
		if !isToken68(creds.value) || len(creds.value) > MaxCredentialLength {
			t.Errorf("method %s: accepted a value of %d bytes that is not token68", creds.method, len(creds.value))
		}
		if creds.uuid != "" || creds.secret != "" {
			t.Errorf("method %s: legacy fields set", creds.method)
		}
	case apitoken.MethodLegacy:
		if !isVisibleASCII(creds.uuid) || !isVisibleASCII(creds.secret) || creds.value != "" {
			t.Error("legacy credentials with a bad UUID or secret, or with a value")
		}
		if len(creds.uuid) > MaxCredentialLength || len(creds.secret) > MaxCredentialLength {
			t.Error("legacy credentials longer than the limit")
		}
	default:
		t.Fatalf("unknown method %q", creds.method)
	}

	switch {
	case creds.fromQuery:
		query, _ := url.ParseQuery(rawQuery)
		if !c.allowQuery || creds.method != apitoken.MethodBearer || !slices.Contains(query[QueryParameter], creds.value) {
			t.Error("query token accepted although not allowed or not sent")
		}
	case creds.method == apitoken.MethodBearer:
		if !c.bearer || len(h["Authorization"]) != 1 || !strings.Contains(h["Authorization"][0], creds.value) {
			t.Error("bearer token accepted although disabled or not sent once")
		}
	case creds.method == apitoken.MethodToken:
		if len(h[c.tokenHeader]) != 1 || !strings.Contains(h[c.tokenHeader][0], creds.value) {
			t.Error("token accepted although not sent once in the token header")
		}
	}
	if creds.method != apitoken.MethodLegacy && (len(h[c.uuidHeader]) > 0 || len(h[c.secretHeader]) > 0) {
		t.Error("token accepted next to a legacy header")
	}
}
