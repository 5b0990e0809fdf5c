package webui

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/strata-storage/strata/internal/auth"
)

// cookieName holds the signed-in token itself: the server keeps no
// sessions, so a cookie is exactly as good as the token and dies with it.
const cookieName = "strata_ui_token"

const (
	// maxLoginBody bounds the sign-in form.
	maxLoginBody = 64 << 10
	// maxCookieToken: browsers drop a cookie over 4096 bytes (name,
	// value and attributes together), so a longer token could never
	// come back; refuse it at sign-in instead of failing silently.
	maxCookieToken = 3800
)

// errSessionInvalid: a cookie whose token no longer verifies (expired,
// key removed).
var errSessionInvalid = errors.New("session token no longer verifies")

const sessionEndedMsg = "Your session has ended: the token expired or is no longer accepted. Sign in again."

// session returns the principal of the request's cookie, verified now
// (the verifier's cache makes this cheap). A cookie that fails is cleared.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (*auth.Principal, error) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, errSignedOut
	}
	p, err := h.verifier.Verify(c.Value)
	if err != nil {
		clearCookie(w, r)
		return nil, errSessionInvalid
	}
	return p, nil
}

// POST /ui/login: the pasted token is verified before it is kept.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		h.renderLogin(w, r, http.StatusBadRequest, "The sign-in form could not be read.")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	// People paste what they put in an Authorization header.
	if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
		token = strings.TrimSpace(token[7:])
	}
	switch {
	case token == "":
		h.renderLogin(w, r, http.StatusBadRequest, "Paste a token to sign in.")
		return
	case len(token) > maxCookieToken:
		h.renderLogin(w, r, http.StatusBadRequest, "This token is too long to keep in a browser cookie.")
		return
	}
	p, err := h.verifier.Verify(token)
	if err != nil {
		// The reason goes to the log (never the token); the visitor learns
		// only that it was refused, as the API's 401 says.
		h.log.Info("web view: sign-in refused", "err", err)
		h.renderLogin(w, r, http.StatusUnauthorized, "This token was not accepted: it is invalid, expired, or signed by a key this server does not know.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    token,
		Path:     "/ui/",
		Expires:  p.Expires,
		MaxAge:   max(int(time.Until(p.Expires).Seconds()), 1),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// POST /ui/logout
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	clearCookie(w, r)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName,
		Value:    "",
		Path:     "/ui/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// renderLogin shows the sign-in form with msg ("" for none).
func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, status, "login", view{Title: "Sign in", Error: msg})
}
