module gatewayd

go 1.26

require (
	github.com/jonboulle/clockwork v0.4.0
	periph.io/x/conn/v3 v3.7.2
	periph.io/x/host/v3 v3.8.5
)
