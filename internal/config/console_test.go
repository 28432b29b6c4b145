package config

import "testing"

func TestConsoleSwitch(t *testing.T) {
	for v, want := range map[string]bool{"": true, "on": true, "ON": true, "true": true, "1": true, "off": false, "Off": false, "false": false, "0": false} {
		c, err := Load(func(k string) string {
			return map[string]string{"API_TOKEN": "t", "CONSOLE": v}[k]
		})
		if err != nil || c.Console != want {
			t.Errorf("CONSOLE=%q: %v, %v; want %v", v, c.Console, err, want)
		}
	}
	if _, err := Load(func(k string) string { return map[string]string{"API_TOKEN": "t", "CONSOLE": "maybe"}[k] }); err == nil {
		t.Error("CONSOLE=maybe accepted")
	}
}
