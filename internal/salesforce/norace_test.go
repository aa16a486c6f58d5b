//go:build !race

package salesforce_test

const raceEnabled = false
