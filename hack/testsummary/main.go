// Command testsummary reads `go test -json` on stdin, prints each
// package's result and the output of failed tests, and ends with how many
// tests ran — integration tests counted apart. With -require-integration it
// fails when an integration test was skipped or none ran: make test must
// never pass by skipping.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type counts struct{ pass, fail, skip int }

func main() {
	require := flag.Bool("require-integration", false, "fail when an integration test is skipped or none runs")
	flag.Parse()
	start := time.Now()

	output := map[string][]string{} // package/test → its output lines
	var all, integ, integTop counts
	var skipped, failed []string
	pkgFailed := false

	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Println(sc.Text()) // build errors arrive as plain text
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "build-output":
			fmt.Print(e.Output) // compiler errors
		case "build-fail":
			pkgFailed = true
		case "output":
			if e.Test == "" {
				if strings.HasPrefix(e.Output, "ok ") || strings.HasPrefix(e.Output, "FAIL") || strings.HasPrefix(e.Output, "?") || strings.HasPrefix(e.Output, "---") || strings.Contains(e.Output, "[build failed]") || strings.HasPrefix(e.Output, "#") || strings.Contains(e.Output, ".go:") {
					fmt.Print(e.Output)
				}
				continue
			}
			output[key] = append(output[key], e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				if e.Action == "fail" {
					pkgFailed = true
				}
				continue
			}
			isInteg := strings.HasPrefix(e.Test, "TestIntegration")
			bump := func(x *counts) {
				switch e.Action {
				case "pass":
					x.pass++
				case "fail":
					x.fail++
				case "skip":
					x.skip++
				}
			}
			bump(&all)
			if isInteg {
				bump(&integ)
				if !strings.Contains(e.Test, "/") {
					bump(&integTop)
				}
			}
			switch e.Action {
			case "fail":
				failed = append(failed, e.Package+"."+e.Test)
				fmt.Printf("--- FAIL: %s (%s)\n", e.Test, e.Package)
				for _, l := range output[key] {
					fmt.Print("    ", l)
				}
			case "skip":
				if isInteg {
					reason := ""
					for _, l := range output[key] {
						if strings.Contains(l, "skipped") || strings.Contains(l, "SKIP") {
							reason = strings.TrimSpace(l)
						}
					}
					skipped = append(skipped, fmt.Sprintf("%s.%s: %s", e.Package, e.Test, reason))
				}
			}
			delete(output, key)
		}
	}

	fmt.Printf("\ntests: %d passed, %d failed, %d skipped\n", all.pass, all.fail, all.skip)
	fmt.Printf("integration tests: %d passed, %d failed, %d skipped (%d top-level TestIntegration*, the rest subtests)\n",
		integ.pass, integ.fail, integ.skip, integTop.pass+integTop.fail+integTop.skip)
	fmt.Printf("time: %s\n", time.Since(start).Round(time.Second))
	sort.Strings(skipped)
	code := 0
	if all.fail > 0 || pkgFailed {
		fmt.Printf("FAILED: %s\n", strings.Join(failed, ", "))
		code = 1
	}
	if *require {
		if len(skipped) > 0 {
			fmt.Println("integration tests were skipped, and make test does not pass by skipping:")
			for _, s := range skipped {
				fmt.Println("  ", s)
			}
			code = 1
		}
		if integ.pass == 0 {
			fmt.Println("no integration test ran")
			code = 1
		}
	}
	os.Exit(code)
}
