package report

import "reflect"

// emptyLists returns v with every nil slice and nil map inside it (in
// struct fields, map values, list elements, behind pointers and
// interfaces) replaced by an empty one, so that JSON shows [] or {}
// rather than null: a consumer iterates a list without checking for
// null first. Nil pointers stay null (an absent value). v is not
// modified: what changes is copied.
func emptyLists(v any) any {
	if v == nil {
		return nil
	}
	return fill(reflect.ValueOf(v), 0).Interface()
}

// maxFillDepth bounds the walk: facts are shallow data, and a cyclic
// structure must not recurse forever.
const maxFillDepth = 32

func fill(v reflect.Value, depth int) reflect.Value {
	if depth > maxFillDepth || !v.IsValid() {
		return v
	}
	switch v.Kind() {
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return v // []byte marshals as a string
		}
		if v.IsNil() {
			return reflect.MakeSlice(v.Type(), 0, 0)
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(fill(v.Index(i), depth+1))
		}
		return out
	case reflect.Map:
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			out.SetMapIndex(iter.Key(), fill(iter.Value(), depth+1))
		}
		return out
	case reflect.Pointer:
		if v.IsNil() || hasMarshaler(v.Type()) {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(fill(v.Elem(), depth+1))
		return p
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(fill(v.Elem(), depth+1))
		return out
	case reflect.Struct:
		if hasMarshaler(v.Type()) {
			return v // time.Time and friends write themselves
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := 0; i < v.NumField(); i++ {
			if f := out.Field(i); f.CanSet() {
				f.Set(fill(v.Field(i), depth+1))
			}
		}
		return out
	}
	return v
}

var (
	jsonMarshaler = reflect.TypeFor[interface{ MarshalJSON() ([]byte, error) }]()
	textMarshaler = reflect.TypeFor[interface{ MarshalText() ([]byte, error) }]()
)

// hasMarshaler: a type that writes its own JSON is left as it is.
func hasMarshaler(t reflect.Type) bool {
	return t.Implements(jsonMarshaler) || t.Implements(textMarshaler) ||
		reflect.PointerTo(t).Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(textMarshaler)
}
