// Package archtest holds the test that keeps ARCHITECTURE.md's package table
// true: every Go package has a row, and each row names exactly the external
// libraries its packages import.
package archtest
