package fleet

import (
	"os"
	"runtime"
	"testing"
)

func TestParseTCP(t *testing.T) {
	// Two established connections (to ports 0x24E7 and 0x2537), one
	// listener, and a line that is not one.
	const text = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:24E7 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:24E7 01 00000000:00000000 00:00000000 00000000  1000        0 222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:C351 0100007F:2537 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0000000000000000 20 4 30 10 -1
   3: garbage
`
	got := parseTCP([]byte(text))
	want := []tcpConn{{0, false, 111}, {0x24E7, true, 222}, {0x2537, true, 333}}
	if len(got) != len(want) {
		t.Fatalf("parsed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestReadUsage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	// Some CPU to count.
	x := 0
	for i := range 50_000_000 {
		x += i
	}
	_ = x
	u, err := readUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.peakRSS < 1<<20 || u.cpu <= 0 {
		t.Errorf("usage %+v: want a peak RSS of at least 1 MiB and some CPU", u)
	}
}
