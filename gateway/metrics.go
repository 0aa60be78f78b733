package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gatewayd/store"
)

// metrics holds the gateway's Prometheus collectors on a registry of its
// own, so two gateways in one test process do not collide.
type metrics struct {
	reg      *prometheus.Registry
	readings prometheus.Counter
	dropped  *prometheus.CounterVec
	alerts   prometheus.Counter
	commands *prometheus.CounterVec
	logins   *prometheus.CounterVec
	resumes  *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		readings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewayd_readings_total", Help: "Readings received from all sources.",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_dropped_total", Help: "Readings or writes dropped, by reason.",
		}, []string{"reason"}),
		alerts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatewayd_alerts_raised_total", Help: "Alerts raised.",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_commands_total", Help: "Commands sent to devices, by result.",
		}, []string{"result"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_logins_total", Help: "Login attempts, by result.",
		}, []string{"result"}),
		resumes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewayd_dashboard_resumes_total",
			Help: "Dashboards that asked to resume a session: recovered (hit) or not, by reason (miss).",
		}, []string{"result"}),
	}
	m.reg.MustRegister(m.readings, m.dropped, m.alerts, m.commands, m.logins, m.resumes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) registerStore(s *store.Store) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewayd_store_committed_offset", Help: "Highest reading offset committed to the database.",
		}, func() float64 { return float64(s.Committed()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewayd_store_queue_readings", Help: "Readings accepted but not yet committed to the database.",
		}, func() float64 { return float64(s.Stats().Queued) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewayd_store_last_commit_seconds", Help: "Duration of the last batch commit.",
		}, func() float64 { return s.Stats().LastCommit.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gatewayd_store_healthy", Help: "1 when the store writes successfully, 0 while it fails.",
		}, func() float64 {
			if s.Health() != nil {
				return 0
			}
			return 1
		}),
	)
}

// gauge registers a gauge computed on scrape.
func (m *metrics) gauge(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
