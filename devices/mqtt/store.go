package mqtt

import (
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// copyStore is paho's memory store, except that PUBLISH packets are copied
// on the way in and on the way out. paho's writer fills in a packet's
// header while sending it, and on resume paho sets the DUP flag of the
// packet it got from the store: with the plain memory store both touch the
// same object, a data race inside paho (eclipse-paho/paho.mqtt.golang#703).
type copyStore struct {
	*paho.MemoryStore
}

func newCopyStore() copyStore { return copyStore{paho.NewMemoryStore()} }

// Put stores a copy of a PUBLISH packet.
func (s copyStore) Put(key string, p packets.ControlPacket) {
	s.MemoryStore.Put(key, copyPublish(p))
}

// Get returns a copy of a stored PUBLISH packet.
func (s copyStore) Get(key string) packets.ControlPacket {
	return copyPublish(s.MemoryStore.Get(key))
}

func copyPublish(p packets.ControlPacket) packets.ControlPacket {
	if pub, ok := p.(*packets.PublishPacket); ok && pub != nil {
		c := *pub
		return &c
	}
	return p
}
