package engine

import (
	"fmt"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// schema is a compiled CONF_SCHEMA: a JSON-Schema subset (type,
// properties, required, enum, default, minimum, maximum, pattern, items).
// Unknown keywords are an error, so that a misspelt "requird" is caught at
// load time instead of validating nothing.
type schema struct {
	types      []string
	properties map[string]*schema
	propOrder  []string
	required   []string
	enum       []starlark.Value
	def        starlark.Value
	minimum    starlark.Value
	maximum    starlark.Value
	pattern    *regexp.Regexp
	items      *schema
}

var schemaTypes = []string{"array", "boolean", "integer", "null", "number", "object", "string"}

func compileSchema(v starlark.Value) (*schema, error) {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("got %s, want a dict", v.Type())
	}
	s := &schema{}
	for k, val := range starlark.Entries(d) {
		key, ok := starlark.AsString(k)
		if !ok {
			return nil, fmt.Errorf("got key %s, want str", k)
		}
		if err := s.set(key, val); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	return s, nil
}

func (s *schema) set(key string, val starlark.Value) error {
	switch key {
	case "type":
		return s.setTypes(val)
	case "properties":
		props, ok := val.(*starlark.Dict)
		if !ok {
			return fmt.Errorf("got %s, want a dict", val.Type())
		}
		s.properties = make(map[string]*schema, props.Len())
		for k, pv := range starlark.Entries(props) {
			name, ok := starlark.AsString(k)
			if !ok {
				return fmt.Errorf("got property name %s, want str", k)
			}
			sub, err := compileSchema(pv)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			s.properties[name] = sub
			s.propOrder = append(s.propOrder, name)
		}
	case "required":
		for e := range iterate(val) {
			name, ok := starlark.AsString(e)
			if !ok {
				return fmt.Errorf("got %s, want a list of str", val)
			}
			s.required = append(s.required, name)
		}
		if _, ok := val.(*starlark.List); !ok {
			return fmt.Errorf("got %s, want a list of str", val.Type())
		}
	case "enum":
		l, ok := val.(*starlark.List)
		if !ok {
			return fmt.Errorf("got %s, want a list", val.Type())
		}
		for e := range starlark.Elements(l) {
			s.enum = append(s.enum, e)
		}
	case "default":
		s.def = val
	case "minimum", "maximum":
		switch val.(type) {
		case starlark.Int, starlark.Float:
		default:
			return fmt.Errorf("got %s, want a number", val.Type())
		}
		if key == "minimum" {
			s.minimum = val
		} else {
			s.maximum = val
		}
	case "pattern":
		p, ok := starlark.AsString(val)
		if !ok {
			return fmt.Errorf("got %s, want str", val.Type())
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return err
		}
		s.pattern = re
	case "items":
		sub, err := compileSchema(val)
		if err != nil {
			return err
		}
		s.items = sub
	case "description", "title":
	default:
		return fmt.Errorf("unknown keyword (supported: type, properties, required, enum, default, minimum, maximum, pattern, items, description, title)")
	}
	return nil
}

func iterate(v starlark.Value) func(func(starlark.Value) bool) {
	if it, ok := v.(starlark.Iterable); ok {
		return starlark.Elements(it)
	}
	return func(func(starlark.Value) bool) {}
}

func (s *schema) setTypes(val starlark.Value) error {
	add := func(v starlark.Value) error {
		t, ok := starlark.AsString(v)
		if !ok || !contains(schemaTypes, t) {
			return fmt.Errorf("got %s, want one of %s", v, strings.Join(schemaTypes, ", "))
		}
		s.types = append(s.types, t)
		return nil
	}
	if l, ok := val.(*starlark.List); ok {
		for e := range starlark.Elements(l) {
			if err := add(e); err != nil {
				return err
			}
		}
		return nil
	}
	return add(val)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// jsonType names the JSON type of a decoded value.
func jsonType(v starlark.Value) string {
	switch x := v.(type) {
	case *starlark.Dict:
		return "object"
	case *starlark.List:
		return "array"
	case starlark.String:
		return "string"
	case starlark.Int:
		return "integer"
	case starlark.Float:
		if float64(x) == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case starlark.Bool:
		return "boolean"
	case starlark.NoneType:
		return "null"
	}
	return v.Type()
}

func (s *schema) typeOK(v starlark.Value) bool {
	if len(s.types) == 0 {
		return true
	}
	t := jsonType(v)
	for _, want := range s.types {
		if want == t || want == "number" && t == "integer" {
			return true
		}
	}
	return false
}

// validate checks v against s, filling defaults of missing properties into
// dicts (v is a freshly decoded, unfrozen value).
func (s *schema) validate(v starlark.Value, path string) error {
	if !s.typeOK(v) {
		return fmt.Errorf("%s: got %s, want %s", path, jsonType(v), strings.Join(s.types, " or "))
	}
	if len(s.enum) > 0 {
		found := false
		for _, e := range s.enum {
			if eq, err := starlark.Equal(e, v); err == nil && eq {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("%s: got %s, want one of %s", path, v, starlark.NewList(s.enum))
		}
	}
	if err := s.checkRange(v, path); err != nil {
		return err
	}
	if s.pattern != nil {
		if str, ok := v.(starlark.String); ok && !s.pattern.MatchString(string(str)) {
			return fmt.Errorf("%s: %s does not match pattern %q", path, v, s.pattern)
		}
	}
	switch x := v.(type) {
	case *starlark.Dict:
		return s.validateObject(x, path)
	case *starlark.List:
		if s.items != nil {
			for i := 0; i < x.Len(); i++ {
				if err := s.items.validate(x.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (s *schema) checkRange(v starlark.Value, path string) error {
	switch v.(type) {
	case starlark.Int, starlark.Float:
	default:
		return nil
	}
	if s.minimum != nil {
		if lt, _ := starlark.Compare(syntax.LT, v, s.minimum); lt {
			return fmt.Errorf("%s: got %s, want at least %s", path, v, s.minimum)
		}
	}
	if s.maximum != nil {
		if gt, _ := starlark.Compare(syntax.GT, v, s.maximum); gt {
			return fmt.Errorf("%s: got %s, want at most %s", path, v, s.maximum)
		}
	}
	return nil
}

func (s *schema) validateObject(d *starlark.Dict, path string) error {
	for _, name := range s.required {
		if _, found, _ := d.Get(starlark.String(name)); !found {
			return fmt.Errorf("%s: missing required property %q", path, name)
		}
	}
	for _, name := range s.propOrder {
		sub := s.properties[name]
		key := starlark.String(name)
		val, found, _ := d.Get(key)
		if !found {
			if sub.def == nil {
				continue
			}
			val = copyValue(sub.def)
			if err := d.SetKey(key, val); err != nil {
				return fmt.Errorf("%s.%s: %w", path, name, err)
			}
		}
		if err := sub.validate(val, path+"."+name); err != nil {
			return err
		}
	}
	return nil
}

// copyValue returns an unfrozen deep copy of a (frozen) schema default,
// so that filling it into a conf never shares mutable state.
func copyValue(v starlark.Value) starlark.Value {
	switch x := v.(type) {
	case *starlark.Dict:
		d := starlark.NewDict(x.Len())
		for k, e := range starlark.Entries(x) {
			d.SetKey(k, copyValue(e))
		}
		return d
	case *starlark.List:
		elems := make([]starlark.Value, x.Len())
		for i := range elems {
			elems[i] = copyValue(x.Index(i))
		}
		return starlark.NewList(elems)
	}
	return v
}
