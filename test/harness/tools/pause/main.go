// Command pause is the sandbox ("infra") container of the harness's real node: it holds a pod's
// namespaces open and reaps zombies until it is told to stop, like Kubernetes' own pause (which is
// C and not on the Go module proxy). Built static, it becomes a one-file image the harness pushes
// to its local registry and pins as the runtime's sandbox image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("pause (modelpack-operator harness)\n")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			return
		}
		for { // reap every exited child; -1: any
			var status syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
