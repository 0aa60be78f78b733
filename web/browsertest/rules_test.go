package browsertest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gatewayd/gateway"
)

// TestAlertRules follows an operator through the Rules section of the
// events view: the configuration's rule shown read-only, a refused rule's
// reason, a rule added with the keyboard, one added elsewhere appearing by
// itself, and a rule deleted.
func TestAlertRules(t *testing.T) {
	e := newEnv(t, envOptions{alerts: []gateway.AlertRule{
		{Name: "too hot", Device: dev, Metric: "temp", Kind: gateway.AlertAbove, Threshold: 30},
	}})
	e.do(chromedp.Navigate(e.proxy.url() + "/#/events"))
	cfgRow := `document.querySelector('#alert-rules li[data-rule="too hot"]')`
	e.eventually("the configuration's rule, read-only", cfgRow+`?.dataset.source === 'config' && `+
		cfgRow+`.textContent.includes('read-only') && !`+cfgRow+`.querySelector('button')`, 10*time.Second)
	e.eventually("the rule form, offered to an operator", `!document.querySelector('form.rule-form').hidden`, 5*time.Second)

	// A duration the gateway cannot read is refused, and the form says why.
	result := `document.querySelector('#rule-result')`
	e.do(chromedp.SendKeys(chromedp.ID("rule-name"), "damp"),
		chromedp.SendKeys(chromedp.ID("rule-metric"), "humidity"),
		chromedp.SetValue(chromedp.ID("rule-threshold"), "80"),
		chromedp.SendKeys(chromedp.ID("rule-for"), "5 minutes"),
		chromedp.Click(chromedp.CSS(`form.rule-form button[type=submit]`)))
	e.eventually("the refusal and its reason", result+`?.dataset.state === 'failed' && `+result+`.textContent.includes('rule.for')`, 5*time.Second)
	if n := eval[int](e, `document.querySelectorAll('#alert-rules li[data-rule]').length`); n != 1 {
		t.Fatalf("%d rules listed after a refused one, want 1", n)
	}

	// Corrected and saved with Enter from the field.
	e.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#rule-for').value = ''`),
		chromedp.SendKeys(chromedp.ID("rule-for"), "2m"), chromedp.KeyEvent("\r"))
	row := `document.querySelector('#alert-rules li[data-rule=damp]')`
	e.eventually("the new rule listed", row+`?.dataset.source === 'runtime' && `+
		row+`.textContent.includes('humidity above 80 for 2m0s on every device')`, 5*time.Second)
	e.eventually("the saved message", result+`?.dataset.state === 'done'`, 3*time.Second)
	e.eventually("the change in the history", `[...document.querySelectorAll('#events li[data-kind=alert_rule]')].some(li => li.textContent.includes('damp: set by anonymous'))`, 5*time.Second)

	// A rule added by someone else (a script) appears without a reload.
	req, _ := http.NewRequest("PUT", e.proxy.url()+"/api/alerts/rules/quiet", strings.NewReader(`{"kind":"nodata","for":"15m"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT quiet: %d %s", resp.StatusCode, body)
	}
	e.eventually("the pushed rule", `document.querySelector('#alert-rules li[data-rule=quiet]')?.textContent.includes('no data for 15m0s')`, 5*time.Second)

	e.do(chromedp.Click(chromedp.CSS(`#alert-rules button[data-delete=damp]`)))
	e.eventually("the deleted rule gone", `!document.querySelector('#alert-rules li[data-rule=damp]') && `+
		`document.querySelector('#alert-rules li[data-rule=quiet]')`, 5*time.Second)

	// The form keeps to the dark theme's panels.
	e.setScheme("dark")
	e.eventually("a dark rule form", `(() => { const m = getComputedStyle(document.querySelector('form.rule-form')).backgroundColor.match(/\d+/g).map(Number);
		return (0.2126*m[0] + 0.7152*m[1] + 0.0722*m[2]) / 255 < 0.2; })()`, 3*time.Second)
}
