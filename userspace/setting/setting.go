// Package setting is what every owner of a sensor.toml table needs to
// declare its keys: the value types (ByteSize, Duration), Problems, the
// list of mistakes each named by its full key with its fix, and the
// offline checks of the paths a table names.
//
// A table lives with the package that uses it (siem's sinks in siem, the
// uplink's in uplink, ...). Each owner gives its table a Default, a
// Validate(key, *Problems) that checks values alone, and, when the table
// names files, a Preflight(key, *Problems) that reads them as the sensor
// will, without changing anything. Package config composes the tables;
// no owner imports config.
package setting

import (
	"errors"
	"fmt"
	"strings"
)

// Problems collects mistakes as "key: what is wrong; the fix". The zero
// value is ready to use.
type Problems struct {
	list []string
}

// Add records a mistake of key (a full dotted key such as
// "output.sinks[1].server_name").
func (p *Problems) Add(key, format string, args ...any) {
	p.list = append(p.list, key+": "+fmt.Sprintf(format, args...))
}

// Fail records an error of key; nil records nothing.
func (p *Problems) Fail(key string, err error) {
	if err != nil {
		p.list = append(p.list, key+": "+err.Error())
	}
}

// Keyed records an error that names its key itself; nil records
// nothing.
func (p *Problems) Keyed(err error) {
	if err != nil {
		p.list = append(p.list, err.Error())
	}
}

// Len is the number of mistakes recorded.
func (p *Problems) Len() int { return len(p.list) }

// Err joins the mistakes in the order found; nil when there are none.
func (p *Problems) Err() error {
	if len(p.list) == 0 {
		return nil
	}
	return errors.New(strings.Join(p.list, "; "))
}
