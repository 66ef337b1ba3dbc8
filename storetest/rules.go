package storetest

import "testing"

func runManagerRules(t *testing.T, newStore NewStore) {}
func runAccessRules(t *testing.T, newStore NewStore)  {}
func runEscalation(t *testing.T, newStore NewStore)   {}
