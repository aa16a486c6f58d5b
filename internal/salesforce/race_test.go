//go:build race

package salesforce_test

// raceEnabled: the race detector's runtime allocates on its own account, so allocation measurements do not
// hold under -race.
const raceEnabled = true
