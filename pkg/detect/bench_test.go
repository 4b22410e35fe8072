package detect

import (
	"context"
	"os"
	"testing"
)

// BenchmarkDetect walks the tree in $DRAFT_BENCH_TREE (bench/detect makes one).
func BenchmarkDetect(b *testing.B) {
	root := os.Getenv("DRAFT_BENCH_TREE")
	if root == "" {
		b.Skip("set DRAFT_BENCH_TREE to a tree (bench/detect/run.sh makes one)")
	}
	for i := 0; i < b.N; i++ {
		if _, err := Detect(context.Background(), root); err != nil {
			b.Fatal(err)
		}
	}
}
