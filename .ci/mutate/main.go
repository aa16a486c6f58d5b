// Command mutate is a small mutation tester for proffsync (issue 16): it breaks the code one small change
// at a time and runs the changed package's tests, to find guards that no test notices.
//
// It never touches the working tree: the module is copied out of git (`git archive <base>`, or the
// working tree itself with -base=worktree) into a temporary directory, and every mutant is written there,
// tested, and undone before the next one. Only one `go test` runs at a time, because the machine is shared.
//
// Operators: flip a comparison (< <= > >= == !=), negate an if condition, swap && and ||, shift an
// integer constant by one, drop a statement (an expression statement, an assignment, ++/--).
//
//	go run ./.ci/mutate [flags] ./internal/orgnr ./internal/mapping
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type mutant struct {
	file     string // path relative to the module root
	line     int
	fn       string // enclosing function, "Type.Method" for methods
	op       string // operator name
	start    int    // byte range of the original text in the file
	end      int
	orig     string
	repl     string
	outcome  string
	duration time.Duration
}

type options struct {
	base        string
	files       *regexp.Regexp
	funcs       *regexp.Regexp
	skipFuncs   *regexp.Regexp
	lines       *regexp.Regexp
	max         int
	seed        uint64
	factor      float64
	minTimeout  time.Duration
	list        bool
	out         io.Writer
	progress    io.Writer
	keepWorkdir bool
}

func main() {
	// Interrupted, the run still removes its copy of the module (deferred in run).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mutate", flag.ContinueOnError)
	base := fs.String("base", "HEAD", "commit to mutate (git archive), or \"worktree\" to copy the working tree without .git")
	files := fs.String("files", "", "regexp on the file name (e.g. '^engine\\.go$'); empty: every non-test file")
	funcs := fs.String("funcs", "", "regexp on the enclosing function (\"Type.Method\" or \"Func\"); empty: all")
	skipFuncs := fs.String("skip-funcs", "", "regexp on the enclosing function to leave out")
	lines := fs.String("lines", "", "regexp on \"file.go:line\" (e.g. 'orgnr\\.go:(152|237)$'), to try a few mutants by hand")
	max := fs.Int("max", 0, "test at most this many mutants per package, sampled with -seed (0: all)")
	seed := fs.Uint64("seed", 16, "seed of the -max sample, so a measurement can be repeated")
	factor := fs.Float64("timeout-factor", 3, "a mutant's tests time out after this many times the baseline run")
	minTimeout := fs.Duration("min-timeout", 10*time.Second, "lower bound of the per-mutant timeout")
	list := fs.Bool("list", false, "list the mutants without running anything")
	keep := fs.Bool("keep", false, "keep the temporary copy of the module")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("name at least one package directory, e.g. ./internal/orgnr")
	}
	o := options{base: *base, max: *max, seed: *seed, factor: *factor, minTimeout: *minTimeout,
		list: *list, out: stdout, progress: stderr, keepWorkdir: *keep}
	var err error
	if o.files, err = optRegexp(*files); err != nil {
		return err
	}
	if o.funcs, err = optRegexp(*funcs); err != nil {
		return err
	}
	if o.skipFuncs, err = optRegexp(*skipFuncs); err != nil {
		return err
	}
	if o.lines, err = optRegexp(*lines); err != nil {
		return err
	}

	root, err := gitOutput(ctx, ".", "rev-parse", "--show-toplevel")
	if err != nil {
		return fmt.Errorf("find the module root: %w", err)
	}
	work, err := os.MkdirTemp("", "mutate-")
	if err != nil {
		return fmt.Errorf("make the work directory: %w", err)
	}
	if !o.keepWorkdir {
		defer os.RemoveAll(work)
	}
	if err := copyModule(ctx, root, o.base, work); err != nil {
		return err
	}
	rev := o.base
	if o.base != "worktree" {
		if rev, err = gitOutput(ctx, root, "rev-parse", "--short", o.base); err != nil {
			return fmt.Errorf("resolve %s: %w", o.base, err)
		}
	}
	fmt.Fprintf(o.out, "mutation report: base %s, seed %d, max %d, files %q, funcs %q, skip-funcs %q, lines %q\n\n",
		rev, o.seed, o.max, *files, *funcs, *skipFuncs, *lines)
	for _, pkg := range fs.Args() {
		if err := mutatePackage(ctx, work, filepath.Clean(pkg), o); err != nil {
			return fmt.Errorf("package %s: %w", pkg, err)
		}
	}
	return nil
}

func optRegexp(s string) (*regexp.Regexp, error) {
	if s == "" {
		return nil, nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("compile %q: %w", s, err)
	}
	return re, nil
}

func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}

// copyModule puts a copy of the module at base into work. The working tree itself is only ever read.
func copyModule(ctx context.Context, root, base, work string) error {
	var cmd *exec.Cmd
	if base == "worktree" {
		cmd = exec.CommandContext(ctx, "tar", "-C", root, "--exclude=./.git", "-cf", "-", ".")
	} else {
		cmd = exec.CommandContext(ctx, "git", "-C", root, "archive", "--format=tar", base)
	}
	untar := exec.CommandContext(ctx, "tar", "-C", work, "-xf", "-")
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("copy the module: %w", err)
	}
	untar.Stdin = pipe
	if err := untar.Start(); err != nil {
		return fmt.Errorf("copy the module: %w", err)
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("copy the module at %s: %w", base, err)
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("unpack the module: %w", err)
	}
	return nil
}

func mutatePackage(ctx context.Context, work, pkg string, o options) error {
	dir := filepath.Join(work, pkg)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read the package: %w", err)
	}
	var all []mutant
	sources := map[string][]byte{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if o.files != nil && !o.files.MatchString(name) {
			continue
		}
		rel := filepath.Join(pkg, name)
		src, err := os.ReadFile(filepath.Join(work, rel))
		if err != nil {
			return fmt.Errorf("read %s: %w", rel, err)
		}
		sources[rel] = src
		ms, err := findMutants(rel, src)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if o.funcs != nil && !o.funcs.MatchString(m.fn) {
				continue
			}
			if o.skipFuncs != nil && o.skipFuncs.MatchString(m.fn) {
				continue
			}
			if o.lines != nil && !o.lines.MatchString(fmt.Sprintf("%s:%d", filepath.Base(m.file), m.line)) {
				continue
			}
			all = append(all, m)
		}
	}
	found := len(all)
	byPlace := func(a, b mutant) int {
		if c := strings.Compare(a.file, b.file); c != 0 {
			return c
		}
		return a.start - b.start
	}
	// Sort before sampling too, so that a seed picks the same mutants whatever order ReadDir gave.
	slices.SortStableFunc(all, byPlace)
	if o.max > 0 && len(all) > o.max {
		r := rand.New(rand.NewPCG(o.seed, 0x16))
		r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		all = all[:o.max]
		slices.SortStableFunc(all, byPlace)
	}
	fmt.Fprintf(o.out, "== %s: %d mutants found, %d tested\n", pkg, found, len(all))
	if o.list {
		for _, m := range all {
			fmt.Fprintf(o.out, "%s:%d\t%s\t%s\t%s → %s\n", m.file, m.line, m.fn, m.op, short(m.orig), short(m.repl))
		}
		return nil
	}

	// The baseline runs twice: the first run warms the build cache, the second is the time a mutant's
	// run is compared with. A package whose tests fail unmutated cannot be measured.
	var baseline time.Duration
	for range 2 {
		res, d, out := goTest(ctx, work, pkg, 0)
		if res != "pass" {
			return fmt.Errorf("the unmutated tests do not pass (%s):\n%s", res, tail(out, 3000))
		}
		baseline = d
	}
	timeout := max(time.Duration(o.factor*float64(baseline)), o.minTimeout)
	fmt.Fprintf(o.out, "baseline %s, per-mutant timeout %s\n", baseline.Round(time.Millisecond), timeout.Round(time.Millisecond))

	for i := range all {
		m := &all[i]
		src := sources[m.file]
		mutated := slices.Concat(src[:m.start], []byte(m.repl), src[m.end:])
		path := filepath.Join(work, m.file)
		if err := os.WriteFile(path, mutated, 0o644); err != nil {
			return fmt.Errorf("write the mutant: %w", err)
		}
		res, d, _ := goTest(ctx, work, pkg, timeout)
		// Undo before anything else, so that a failure below cannot leave a mutant behind.
		if err := os.WriteFile(path, src, 0o644); err != nil {
			return fmt.Errorf("restore %s: %w", m.file, err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("interrupted at mutant %d of %d: %w", i+1, len(all), err)
		}
		switch res {
		case "pass":
			m.outcome = "survived"
		case "fail":
			m.outcome = "killed"
		default:
			m.outcome = res
		}
		m.duration = d
		fmt.Fprintf(o.progress, "[%d/%d] %s %s:%d\t%s\t%s\t%s → %s\t(%s)\n", i+1, len(all), m.outcome, m.file, m.line,
			m.fn, m.op, short(m.orig), short(m.repl), d.Round(time.Millisecond))
	}

	count := map[string]int{}
	for _, m := range all {
		count[m.outcome]++
	}
	killed, survived := count["killed"], count["survived"]
	score := 0.0
	if killed+survived > 0 {
		score = 100 * float64(killed) / float64(killed+survived)
	}
	fmt.Fprintf(o.out, "killed %d, survived %d, timeout %d, build-error %d; score %.1f%% (killed / (killed+survived))\n",
		killed, survived, count["timeout"], count["build-error"], score)
	if survived > 0 {
		fmt.Fprintln(o.out, "survivors:")
		for _, m := range all {
			if m.outcome == "survived" {
				fmt.Fprintf(o.out, "  %s:%d\t%s\t%s\t%s → %s\n", m.file, m.line, m.fn, m.op, short(m.orig), short(m.repl))
			}
		}
	}
	fmt.Fprintln(o.out)
	return nil
}

// goTest runs the package's tests once, in a process group of their own so that a timeout also ends the
// test binary that `go test` started. It reports "pass", "fail", "build-error" or "timeout".
func goTest(ctx context.Context, work, pkg string, timeout time.Duration) (string, time.Duration, string) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// -vet=off: a mutant that only upsets vet is not a mutant the tests killed.
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-failfast", "-vet=off", "./"+pkg+"/")
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	switch {
	case ctx.Err() != nil:
		return "timeout", d, out.String()
	case err == nil:
		return "pass", d, out.String()
	case strings.Contains(out.String(), "[build failed]") || strings.Contains(out.String(), "[setup failed]"):
		return "build-error", d, out.String()
	default:
		return "fail", d, out.String()
	}
}

// findMutants lists every mutant of one file. Each is a replacement of a byte range, so that applying one
// is a splice of the source and the rest of the file stays byte for byte the same.
func findMutants(rel string, src []byte) ([]mutant, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, rel, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", rel, err)
	}
	var out []mutant
	text := func(n ast.Node) string {
		return string(src[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset])
	}
	add := func(fn, op string, pos token.Pos, end token.Pos, repl string) {
		p, e := fset.Position(pos), fset.Position(end)
		out = append(out, mutant{file: rel, line: p.Line, fn: fn, op: op, start: p.Offset, end: e.Offset,
			orig: string(src[p.Offset:e.Offset]), repl: repl})
	}
	opEnd := func(pos token.Pos, tok token.Token) token.Pos { return pos + token.Pos(len(tok.String())) }
	flips := map[token.Token][]token.Token{
		token.LSS: {token.LEQ, token.GEQ}, token.LEQ: {token.LSS, token.GTR},
		token.GTR: {token.GEQ, token.LEQ}, token.GEQ: {token.GTR, token.LSS},
		token.EQL: {token.NEQ}, token.NEQ: {token.EQL},
	}

	for _, decl := range f.Decls {
		fn := ""
		if fd, ok := decl.(*ast.FuncDecl); ok {
			fn = fd.Name.Name
			if fd.Recv != nil && len(fd.Recv.List) > 0 {
				fn = recvName(fd.Recv.List[0].Type) + "." + fn
			}
		} else if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.IMPORT {
			continue
		}
		ast.Inspect(decl, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BinaryExpr:
				if to, ok := flips[n.Op]; ok {
					for _, t := range to {
						add(fn, "flip-comparison", n.OpPos, opEnd(n.OpPos, n.Op), t.String())
					}
				}
				switch n.Op {
				case token.LAND:
					add(fn, "swap-and-or", n.OpPos, opEnd(n.OpPos, n.Op), "||")
				case token.LOR:
					add(fn, "swap-and-or", n.OpPos, opEnd(n.OpPos, n.Op), "&&")
				}
			case *ast.IfStmt:
				add(fn, "negate-condition", n.Cond.Pos(), n.Cond.End(), "!("+text(n.Cond)+")")
			case *ast.BasicLit:
				if n.Kind != token.INT {
					break
				}
				v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
				if err != nil {
					break
				}
				add(fn, "shift-constant", n.Pos(), n.End(), strconv.FormatInt(v+1, 10))
				if v > 0 {
					add(fn, "shift-constant", n.Pos(), n.End(), strconv.FormatInt(v-1, 10))
				}
			case *ast.BlockStmt:
				for _, s := range n.List {
					if dropable(s) {
						add(fn, "drop-statement", s.Pos(), s.End(), "")
					}
				}
			case *ast.CaseClause:
				for _, s := range n.Body {
					if dropable(s) {
						add(fn, "drop-statement", s.Pos(), s.End(), "")
					}
				}
			}
			return true
		})
	}
	return out, nil
}

// dropable: statements whose removal still leaves a program that may compile. A := declares, so
// dropping it can only ever be a build error.
func dropable(s ast.Stmt) bool {
	switch s := s.(type) {
	case *ast.ExprStmt, *ast.IncDecStmt:
		return true
	case *ast.AssignStmt:
		return s.Tok != token.DEFINE
	}
	return false
}

func recvName(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return recvName(t.X)
	case *ast.IndexExpr:
		return recvName(t.X)
	case *ast.IndexListExpr:
		return recvName(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(removed)"
	}
	if len(s) > 70 {
		return s[:67] + "..."
	}
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
