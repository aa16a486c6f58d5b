// Package web is serve's read-only history pages: `GET /` lists the recent runs with a chart of the last
// 30 runs' outcomes, `GET /runs/{id}` shows one run (counts, field changes per field, the records that were
// neither updated nor unchanged, every field change), both server-rendered with html/template, one small
// stylesheet and inline SVG: no JavaScript, nothing fetched from elsewhere, so the pages work offline.
//
// The handler enforces its own access (open on loopback, HTTP basic auth elsewhere, off without a
// password), so whoever mounts it cannot forget to.
//
// What must never happen here: a page that writes (only GET and HEAD are answered), a value from
// Salesforce or Proff reaching the page unescaped, a query that reads a whole run to show one page, or an
// internal error's text on a page.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/proffconnect/proffsync/internal/clock"
	"github.com/proffconnect/proffsync/internal/massupdate"
	"github.com/proffconnect/proffsync/internal/store"
)

// Store is what the pages read. *store.Store implements it.
type Store interface {
	RunsPage(ctx context.Context, q store.RunsPageQuery) (store.RunsPage, error)
	// RunPage returns massupdate.ErrRunNotFound for an unknown run.
	RunPage(ctx context.Context, id string, q store.RunPageQuery) (store.RunPage, error)
	// RevertedBy returns the newest revert (not a dry run) of a run, "" when none.
	RevertedBy(ctx context.Context, id string) (string, error)
}

var _ Store = (*store.Store)(nil)

// Options configure the pages.
type Options struct {
	Store Store
	// Password is PROFFSYNC_UI_PASSWORD, the basic-auth password of the user `admin`. Without it the pages
	// are off (404) unless Loopback.
	Password string
	// Loopback says serve listens on a loopback address only: then the pages are open.
	Loopback bool
	Logger   *slog.Logger // nil: discard
	Clock    clock.Clock  // nil: clock.System; the duration of a running run and the page's date
	// PageSize is how many records or field changes a run's page lists at once (default 100), RunsPerPage
	// how many runs `/` lists (default 50).
	PageSize    int
	RunsPerPage int
}

// user is the one basic-auth user (README: Contract).
const user = "admin"

// chartRuns is how many of the newest runs the chart of `/` shows.
const chartRuns = 30

// csp allows the one stylesheet of this origin and nothing else: no script, no frame, no form target
// elsewhere. frame-ancestors and form-action do not fall back to default-src, so they are named.
const csp = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

type handler struct {
	opts               Options
	log                *slog.Logger
	userSum, passSum   [sha256.Size]byte
	index, run, notice *template.Template
	mux                *http.ServeMux
}

// New returns the pages' handler: `GET /`, `GET /runs/{id}` and `GET /static/style.css`, mounted at the
// root of serve's address.
func New(opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Clock = clock.Or(opts.Clock)
	if opts.PageSize <= 0 {
		opts.PageSize = 100
	}
	if opts.RunsPerPage <= 0 {
		opts.RunsPerPage = 50
	}
	h := &handler{
		opts:    opts,
		log:     opts.Logger,
		userSum: sha256.Sum256([]byte(user)),
		passSum: sha256.Sum256([]byte(opts.Password)),
		index:   parse("index.html"),
		run:     parse("run.html"),
		notice:  parse("notice.html"),
		mux:     http.NewServeMux(),
	}
	h.mux.HandleFunc("GET /{$}", h.serveIndex)
	h.mux.HandleFunc("GET /runs/{id}", h.serveRun)
	h.mux.HandleFunc("GET /static/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write(styleCSS) //nolint:errcheck // the client went away
	})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "Not found", "There is no page here.")
	})
	return h
}

func parse(page string) *template.Template {
	return template.Must(template.New(page).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+page))
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cache-Control", "no-store")

	if !h.opts.Loopback {
		if h.opts.Password == "" {
			// Off: the pages do not exist for anyone, not even as a login prompt.
			http.NotFound(w, r)
			return
		}
		if !h.authorized(r) {
			hd.Set("WWW-Authenticate", `Basic realm="proffsync", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "these pages are read-only", http.StatusMethodNotAllowed)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authorized compares user and password in constant time; comparing their hashes also hides their length.
func (h *handler) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	us, ps := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
	return subtle.ConstantTimeCompare(us[:], h.userSum[:])&subtle.ConstantTimeCompare(ps[:], h.passSum[:]) == 1
}

func (h *handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	page, ok := pageParam(r, "page")
	if !ok {
		h.fail(w, r, http.StatusBadRequest, "Bad page number", "A page number is a whole number from 1.")
		return
	}
	p, err := h.opts.Store.RunsPage(r.Context(), store.RunsPageQuery{Page: page, PageSize: h.opts.RunsPerPage, Chart: chartRuns})
	if err != nil {
		h.internal(w, r, "read the runs", err)
		return
	}
	h.render(w, r, h.index, newIndexView(p, h.opts.Clock.Now().UTC(), h.opts.RunsPerPage))
}

func (h *handler) serveRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rpage, ok1 := pageParam(r, "rpage")
	cpage, ok2 := pageParam(r, "cpage")
	field := r.URL.Query().Get("field")
	if !ok1 || !ok2 {
		h.fail(w, r, http.StatusBadRequest, "Bad page number", "A page number is a whole number from 1.")
		return
	}
	if !plainText(field) {
		h.fail(w, r, http.StatusBadRequest, "Bad field", "A field name is printable text.")
		return
	}
	if !plainText(id) {
		// No run id holds such bytes, and PostgreSQL would refuse some of them outright.
		h.runNotFound(w, r)
		return
	}
	p, err := h.opts.Store.RunPage(r.Context(), id, store.RunPageQuery{
		RecordsPage: rpage, ChangesPage: cpage, Field: field, PageSize: h.opts.PageSize})
	if errors.Is(err, massupdate.ErrRunNotFound) {
		h.runNotFound(w, r)
		return
	}
	if err != nil {
		h.internal(w, r, "read the run", err)
		return
	}
	by, err := h.opts.Store.RevertedBy(r.Context(), p.Run.ID)
	if err != nil {
		h.internal(w, r, "read the run's revert", err)
		return
	}
	v := newRunView(p, h.opts.Clock.Now().UTC(), h.opts.PageSize)
	v.RevertedBy = by
	h.render(w, r, h.run, v)
}

func (h *handler) runNotFound(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, http.StatusNotFound, "No such run", "No run has that id: it may have been pruned.")
}

// pageParam reads a 1-based page number; missing is page 1. A page beyond the last is clamped by the
// store, a page that is not a whole number from 1 is refused.
func pageParam(r *http.Request, name string) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 1, true
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 1
}

// plainText holds for valid UTF-8 without control characters.
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

type noticeView struct {
	Title, Message string
	Now            string
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.renderStatus(w, r, status, h.notice, noticeView{Title: title, Message: msg, Now: stamp(h.opts.Clock.Now().UTC())})
}

// internal answers 500 without the error's text (it may name hosts or tables) and logs it; a request the
// client gave up on is no error of ours.
func (h *handler) internal(w http.ResponseWriter, r *http.Request, op string, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		h.log.DebugContext(r.Context(), "history page abandoned by the client", slog.String("path", r.URL.Path))
		return
	}
	h.log.ErrorContext(r.Context(), "history page failed", slog.String("op", op), slog.String("path", r.URL.Path),
		slog.String("error", err.Error()))
	h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "The history could not be read; the log says why.")
}

func (h *handler) render(w http.ResponseWriter, r *http.Request, t *template.Template, data any) {
	h.renderStatus(w, r, http.StatusOK, t, data)
}

// renderStatus renders to a buffer first, so a template error is a clean 500, not half a page.
func (h *handler) renderStatus(w http.ResponseWriter, r *http.Request, status int, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.ErrorContext(r.Context(), "render history page", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}
