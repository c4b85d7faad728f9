package appset_test

import (
	"testing"

	"github.com/flotilla-dev/flotilla/internal/appset"
	"github.com/flotilla-dev/flotilla/internal/benchfleet"
	"github.com/flotilla-dev/flotilla/internal/fleet"
	"github.com/flotilla-dev/flotilla/internal/source"
)

// BenchmarkGenerateFleet loads make bench's fleet and evaluates its matrix
// ApplicationSet (200 clusters × 25 service directories = 5,000
// Applications).
func BenchmarkGenerateFleet(b *testing.B) {
	dir := b.TempDir()
	if err := benchfleet.Write(dir, 200, 25); err != nil {
		b.Fatal(err)
	}
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, err := fleet.Load(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
	f, err := fleet.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("generate", func(b *testing.B) {
		for b.Loop() {
			repos, err := source.New(f)
			if err != nil {
				b.Fatal(err)
			}
			apps, err := appset.GenerateFleet(b.Context(), f, repos)
			if err != nil || len(apps) != 5000 {
				b.Fatalf("%d apps, %v", len(apps), err)
			}
			repos.Close()
		}
	})
}
