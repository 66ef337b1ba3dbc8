package sqlstore

import (
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/storetest"
)

func TestConformance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		storetest.Run(t, func(t *testing.T) apitoken.Store {
			return b.newEmptyStore(t)
		})
	})
}
