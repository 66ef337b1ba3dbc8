// Package bench holds benchmarks that set the verification of this module
// beside its floor (one SHA-256 and one map lookup), beside the SQL stores
// and beside a PBKDF2 scheme. The benchmarks live in the package's test
// files; BENCHMARKS.md at the repository root records their figures.
package bench
