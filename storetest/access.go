package storetest

import "testing"

func runAccessRules(t *testing.T, newStore NewStore) {}
func runEscalation(t *testing.T, newStore NewStore)  {}
