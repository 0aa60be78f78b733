package mqtt

import (
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyStore is paho's memory store, except that Get hands out a copy of a
// stored PUBLISH packet. On resume paho sets the copy's DUP flag while its
// writer may still be sending the original: with the plain memory store
// that is a data race inside paho (eclipse-paho/paho.mqtt.golang#703).
type copyStore struct {
	*paho.MemoryStore
}

func newCopyStore() copyStore { return copyStore{paho.NewMemoryStore()} }

func (s copyStore) Get(key string) packets.ControlPacket {
	p := s.MemoryStore.Get(key)
	if pub, ok := p.(*packets.PublishPacket); ok && pub != nil {
		c := *pub
		return &c
	}
	return p
}
