// Command receiver is a stand-in external system for trying extsync
// locally: it answers 200 to every PUT and POST and prints one line per
// request with the method, path, Idempotency-Key header and body.
//
//	go run ./examples/receiver              # listens on 127.0.0.1:9090
//	go run ./examples/receiver -addr :9191
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
	"time"
)

// maxBody bounds how much of a request body is read and printed.
const maxBody = 1 << 20

// handler answers 200 to PUT and POST (405 to anything else) and writes
// one line per request to out.
func handler(out io.Writer) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut && r.Method != http.MethodPost {
			w.Header().Set("Allow", "PUT, POST")
			http.Error(w, "PUT or POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		// One line per request, whatever the body holds.
		body = bytes.ReplaceAll(bytes.TrimSpace(body), []byte("\n"), []byte(" "))
		mu.Lock()
		fmt.Fprintf(out, "%s %s Idempotency-Key=%s %s\n", r.Method, r.URL.RequestURI(), r.Header.Get("Idempotency-Key"), body)
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "listen address")
	flag.Parse()
	srv := &http.Server{Addr: *addr, Handler: handler(os.Stdout), ReadHeaderTimeout: 5 * time.Second}
	log.Printf("receiver listening on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}
