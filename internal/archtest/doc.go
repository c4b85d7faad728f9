// Package archtest holds the tests that keep the repository's documents
// true: ARCHITECTURE.md's package table (every Go package has a row, and each
// row names exactly the external libraries its packages import), and the
// links of README.md, ARCHITECTURE.md and docs/ (every relative link and
// #anchor resolves, and every Markdown document they name is in the
// repository).
package archtest
