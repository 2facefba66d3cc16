package config

import (
	"reflect"
	"strings"
)

// checkValues reports every value of the file that did not parse as its
// type (a Duration, a ByteSize, a Deadband), at its key: a concern of the
// file, like a wrong TOML type, so it is checked here once for every table
// rather than by each component. Drivers' sections check their own.
func (c *Config) checkValues(p *Problems) {
	walkValues(p, Path{}, reflect.ValueOf(c).Elem())
}

func walkValues(p *Problems, path Path, v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			walkValues(p, path, fv) // the decoder flattens embedded structs
			continue
		}
		name := strings.Split(f.Tag.Get("toml"), ",")[0]
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		checkValue(p, path, name, fv)
	}
}

func checkValue(p *Problems, path Path, key string, v reflect.Value) {
	switch x := v.Interface().(type) {
	case Duration:
		x.check(p, path.Key(key))
		return
	case ByteSize:
		x.check(p, path.Key(key))
		return
	case Deadband:
		if x.bad != "" {
			p.Add(path.Key(key), "%s: want a number >= 0 such as 0.5, or a percentage such as \"2%%\"", x.bad)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		walkValues(p, path.Key(key), v)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Struct {
			return
		}
		for i := range v.Len() {
			e := v.Index(i)
			name := ""
			if n := e.FieldByName("Name"); n.IsValid() && n.Kind() == reflect.String {
				name = n.String()
			}
			walkValues(p, path.Index(key, i, name), e)
		}
	}
}
