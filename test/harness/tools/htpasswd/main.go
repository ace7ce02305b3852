// Command htpasswd writes one bcrypt htpasswd entry, like Apache's `htpasswd -nbB` (the format
// distribution's and olareg's Basic auth read), so the tests need no apache2-utils. It uses
// golang.org/x/crypto/bcrypt, the package both registries verify with.
//
// Usage: htpasswd USER < password     Prints USER:$2a$05$...
// The password is read from standard input (one line, without its newline), never from argv.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// cost is Apache htpasswd's default for -B: the registries check it on every Basic-auth request,
// so a higher cost would slow every test request for no benefit.
const cost = 5

func main() {
	if len(os.Args) != 2 || os.Args[1] == "" || strings.Contains(os.Args[1], ":") {
		fmt.Fprintln(os.Stderr, "usage: htpasswd USER < password   (USER without ':')")
		os.Exit(2)
	}
	password, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && password == "" {
		fmt.Fprintln(os.Stderr, "htpasswd: no password on standard input")
		os.Exit(2)
	}
	password = strings.TrimSuffix(strings.TrimSuffix(password, "\n"), "\r")
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		fmt.Fprintln(os.Stderr, "htpasswd:", err)
		os.Exit(1)
	}
	fmt.Printf("%s:%s\n", os.Args[1], hash)
}
