package cache_test

import (
	"testing"

	"github.com/bearerhttp/bearer/cache"
	"github.com/bearerhttp/bearer/cache/storetest"
)

func TestMemoryStoreKeepsTheStoreContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) cache.Store { return cache.NewMemoryStore() })
}
