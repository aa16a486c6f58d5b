// Command complexity counts, with go/ast only, the cyclomatic complexity of every function and the size of
// every file in the packages it is given, so that issue 11's targets (no function in internal/ above 25,
// emulators aside, none in massupdate above 20) can be checked before and after a change.
//
//	go run ./.ci/complexity [-over N] [-tests] ./internal/...
//
// Complexity is counted as gocyclo does: 1, plus one for every if, for, range, non-default case and
// select case, && and ||. Function literals count towards the function that holds them, since a reader
// has to hold them in mind there too. Test files are left out unless -tests is given. The emulators
// (sfemu, proffemu) are listed apart: they are test doubles, not the product.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	over := flag.Int("over", 20, "list the functions whose complexity is above this")
	tests := flag.Bool("tests", false, "count _test.go files too")
	flag.Parse()
	if err := run(os.Stdout, flag.Args(), *over, *tests); err != nil {
		fmt.Fprintln(os.Stderr, "complexity:", err)
		os.Exit(1)
	}
}

// emulators are listed apart from the product's packages.
var emulators = map[string]bool{"sfemu": true, "proffemu": true}

type function struct {
	pkg, file, name string
	line, lines, cc int
}

type file struct {
	pkg, path string
	lines     int
}

func run(w io.Writer, patterns []string, over int, tests bool) error {
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	var funcs []function
	var files []file
	for _, p := range patterns {
		root, recursive := strings.CutSuffix(p, "/...")
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != root && (!recursive || strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || (!tests && strings.HasSuffix(path, "_test.go")) {
				return nil
			}
			fn, f, err := count(path)
			if err != nil {
				return err
			}
			funcs, files = append(funcs, fn...), append(files, f)
			return nil
		})
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
	}
	report(w, funcs, files, over)
	return nil
}

// count parses one file and measures its functions.
func count(path string) ([]function, file, error) {
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, file{}, fmt.Errorf("parse: %w", err)
	}
	pkg := filepath.ToSlash(filepath.Dir(path))
	f := file{pkg: pkg, path: filepath.ToSlash(path), lines: fset.Position(af.End()).Line}
	var out []function
	for _, d := range af.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		name := fd.Name.Name
		if fd.Recv != nil && len(fd.Recv.List) > 0 {
			name = "(" + recv(fd.Recv.List[0].Type) + ")." + name
		}
		start, end := fset.Position(fd.Pos()), fset.Position(fd.End())
		out = append(out, function{pkg: pkg, file: f.path, name: name, line: start.Line,
			lines: end.Line - start.Line + 1, cc: cyclomatic(fd)})
	}
	return out, f, nil
}

func recv(e ast.Expr) string {
	switch t := e.(type) {
	case *ast.StarExpr:
		return "*" + recv(t.X)
	case *ast.IndexExpr:
		return recv(t.X)
	case *ast.IndexListExpr:
		return recv(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}

func cyclomatic(fd *ast.FuncDecl) int {
	n := 1
	ast.Inspect(fd.Body, func(node ast.Node) bool {
		switch x := node.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			n++
		case *ast.CaseClause:
			if x.List != nil {
				n++
			}
		case *ast.CommClause:
			if x.Comm != nil {
				n++
			}
		case *ast.BinaryExpr:
			if x.Op == token.LAND || x.Op == token.LOR {
				n++
			}
		}
		return true
	})
	return n
}

func isEmulator(pkg string) bool {
	for _, part := range strings.Split(pkg, "/") {
		if emulators[part] {
			return true
		}
	}
	return false
}

func report(w io.Writer, funcs []function, files []file, over int) {
	sort.Slice(funcs, func(i, j int) bool {
		if funcs[i].cc != funcs[j].cc {
			return funcs[i].cc > funcs[j].cc
		}
		return funcs[i].file+funcs[i].name < funcs[j].file+funcs[j].name
	})
	for _, emu := range []bool{false, true} {
		title := "product"
		if emu {
			title = "emulators"
		}
		fmt.Fprintf(w, "== %s: functions above complexity %d\n", title, over)
		for _, f := range funcs {
			if isEmulator(f.pkg) == emu && f.cc > over {
				fmt.Fprintf(w, "%4d  %4d lines  %s:%d %s\n", f.cc, f.lines, f.file, f.line, f.name)
			}
		}
	}

	type pkgStat struct {
		name                   string
		funcs, maxCC, maxLines int
		maxFunc                string
		files, lines, maxFile  int
	}
	stats := map[string]*pkgStat{}
	get := func(p string) *pkgStat {
		if stats[p] == nil {
			stats[p] = &pkgStat{name: p}
		}
		return stats[p]
	}
	for _, f := range funcs {
		s := get(f.pkg)
		s.funcs++
		if f.cc > s.maxCC {
			s.maxCC, s.maxFunc = f.cc, f.name
		}
		s.maxLines = max(s.maxLines, f.lines)
	}
	for _, f := range files {
		s := get(f.pkg)
		s.files++
		s.lines += f.lines
		s.maxFile = max(s.maxFile, f.lines)
	}
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "== packages\n%-32s %5s %6s %-34s %9s %5s %6s %8s\n", "package", "funcs", "max cc", "(function)",
		"max lines", "files", "lines", "max file")
	for _, n := range names {
		s := stats[n]
		fmt.Fprintf(w, "%-32s %5d %6d %-34s %9d %5d %6d %8d\n", s.name, s.funcs, s.maxCC, s.maxFunc, s.maxLines,
			s.files, s.lines, s.maxFile)
	}

	sort.Slice(files, func(i, j int) bool { return files[i].lines > files[j].lines })
	fmt.Fprintln(w, "== files")
	for _, f := range files {
		fmt.Fprintf(w, "%6d  %s\n", f.lines, f.path)
	}
}
