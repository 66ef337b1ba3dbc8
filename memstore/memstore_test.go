package memstore_test

import (
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) apitoken.Store { return memstore.New() })
}
