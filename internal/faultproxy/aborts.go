package faultproxy

import (
	"errors"
	"fmt"
	"net/http"
)

// CheckAborts checks how an upload was aborted, from the requests the
// proxy saw, and returns how many aborts there were: each abort followed
// by a ListParts; every ListParts but the last found the upload still
// there (200), so each further abort was called for, and the last found
// it gone (404). Where parts were cut in flight the number is not fixed:
// a part the client gave up on can still be stored after an abort and
// bring the upload back, depending on which request the server finishes
// first.
func CheckAborts(reqs []Request) (int, error) {
	var seq []Request
	for _, r := range reqs {
		if r.Op == "AbortMultipartUpload" || r.Op == "ListParts" {
			seq = append(seq, r)
		}
	}
	ops := func() []string {
		var s []string
		for _, r := range seq {
			s = append(s, fmt.Sprintf("%s %d", r.Op, r.Status))
		}
		return s
	}
	if len(seq) == 0 {
		return 0, errors.New("no AbortMultipartUpload")
	}
	if len(seq)%2 != 0 {
		return 0, fmt.Errorf("aborts and checks %q: want each AbortMultipartUpload followed by a ListParts", ops())
	}
	for i, r := range seq {
		if want := [2]string{"AbortMultipartUpload", "ListParts"}[i%2]; r.Op != want {
			return 0, fmt.Errorf("aborts and checks %q: want each AbortMultipartUpload followed by a ListParts", ops())
		}
	}
	for i := 1; i < len(seq); i += 2 {
		last := i == len(seq)-1
		switch st := seq[i].Status; {
		case last && st != http.StatusNotFound:
			return 0, fmt.Errorf("aborts and checks %q: want the last ListParts to find no upload (404)", ops())
		case !last && st != http.StatusOK:
			return 0, fmt.Errorf("aborts and checks %q: an abort was repeated after its check found no upload", ops())
		}
	}
	return len(seq) / 2, nil
}
