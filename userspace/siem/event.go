package siem

import (
	"math"
	"time"

	"github.com/segmentio/encoding/json"
)

// event is the part of an ECS line the formatters use. Everything is
// optional: a field the line lacks, or has with another type, stays zero.
type event struct {
	Timestamp string `json:"@timestamp"`
	Event     struct {
		Kind      string   `json:"kind"`
		Dataset   string   `json:"dataset"`
		RiskScore *float64 `json:"risk_score"`
	} `json:"event"`
	Observer struct {
		Ingress struct {
			Interface struct {
				Name string `json:"name"`
			} `json:"interface"`
		} `json:"ingress"`
	} `json:"observer"`
	Source      endpoint `json:"source"`
	Destination endpoint `json:"destination"`
	Network     struct {
		Transport string `json:"transport"`
		Protocol  string `json:"protocol"`
	} `json:"network"`
	File struct {
		Name string   `json:"name"`
		Size *float64 `json:"size"`
		Hash struct {
			SHA256 string `json:"sha256"`
		} `json:"hash"`
	} `json:"file"`
	URL struct {
		Original string `json:"original"`
	} `json:"url"`
	HTTP struct {
		Request struct {
			Method string `json:"method"`
		} `json:"request"`
	} `json:"http"`
	UserAgent struct {
		Original string `json:"original"`
	} `json:"user_agent"`
	TLS struct {
		Version string `json:"version"`
		Client  struct {
			ServerName string `json:"server_name"`
			JA3        string `json:"ja3"`
			JA4        string `json:"ja4"`
		} `json:"client"`
	} `json:"tls"`
	Edgesensor struct {
		Score struct {
			Verdict string   `json:"verdict"`
			Reasons []reason `json:"reasons"`
		} `json:"score"`
		File struct {
			Category  string `json:"category"`
			Direction string `json:"direction"`
		} `json:"file"`
	} `json:"edgesensor"`
	Email struct {
		From    addresses `json:"from"`
		To      addresses `json:"to"`
		Subject string    `json:"subject"`
	} `json:"email"`
}

type endpoint struct {
	IP   string   `json:"ip"`
	Port *float64 `json:"port"`
}

type addresses struct {
	Address []string `json:"address"`
}

// reason accepts both spellings seen for a score reason: the score
// package's rule/text/weight and code/detail/points.
type reason struct {
	Rule   string   `json:"rule"`
	Code   string   `json:"code"`
	Text   string   `json:"text"`
	Detail string   `json:"detail"`
	Weight *float64 `json:"weight"`
	Points *float64 `json:"points"`
}

func (r *reason) id() string {
	if r.Rule != "" {
		return r.Rule
	}
	return r.Code
}

func (r *reason) text() string {
	if r.Text != "" {
		return r.Text
	}
	return r.Detail
}

func (r *reason) points() (int, bool) {
	if r.Weight != nil {
		return toInt(*r.Weight)
	}
	if r.Points != nil {
		return toInt(*r.Points)
	}
	return 0, false
}

// parse fills e from line. A line that is not JSON, or has fields of
// unexpected types, still yields whatever could be read: the formatters
// must send every line, and the raw line travels along anyway. Strings
// point into line (ZeroCopy): e must not outlive it or see it change.
func (e *event) parse(line []byte) {
	*e = event{}
	_, _ = json.Parse(line, e, json.ZeroCopy)
}

// score returns event.risk_score, and false when there is none.
func (e *event) score() (int, bool) {
	if e.Event.RiskScore == nil {
		return 0, false
	}
	return toInt(*e.Event.RiskScore)
}

// time returns @timestamp, and false when it is missing or unreadable.
func (e *event) time() (time.Time, bool) {
	if e.Timestamp == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, e.Timestamp)
	if err != nil || t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t, true
}

func port(p *float64) (int, bool) {
	if p == nil {
		return 0, false
	}
	n, ok := toInt(*p)
	if !ok || n <= 0 || n > 65535 {
		return 0, false
	}
	return n, true
}

// toInt converts a JSON number that should be an integer; NaN and
// values beyond int32 are refused so formatting stays bounded.
func toInt(f float64) (int, bool) {
	if math.IsNaN(f) || f > math.MaxInt32 || f < math.MinInt32 {
		return 0, false
	}
	return int(math.Round(f)), true
}

// toInt64 is toInt for sizes, up to what a float64 holds exactly.
func toInt64(f float64) (int64, bool) {
	if math.IsNaN(f) || f > 1<<53 || f < -(1<<53) {
		return 0, false
	}
	return int64(math.Round(f)), true
}

// filterFields is all Write reads of a line to apply the filters.
type filterFields struct {
	Event struct {
		Dataset   string   `json:"dataset"`
		RiskScore *float64 `json:"risk_score"`
	} `json:"event"`
}
