package s3

import (
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
)

// TestPutInputCopiesEveryField fills every field of the transfer manager's
// input and checks that the single PUT carries each one, so a header the
// user sets cannot be dropped on one of the two upload paths.
func TestPutInputCopiesEveryField(t *testing.T) {
	// Fields a single PUT has no place for, or sets itself.
	notCopied := map[string]bool{"Body": true, "ContentLength": true, "ChecksumType": true, "MpuObjectSize": true}
	in := &transfermanager.UploadObjectInput{}
	v := reflect.ValueOf(in).Elem()
	for i := range v.NumField() {
		fill(t, v.Type().Field(i).Name, v.Field(i))
	}
	out := reflect.ValueOf(putInput(in)).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		if notCopied[name] {
			continue
		}
		if n, ok := putFieldRenames[name]; ok {
			name = n
		}
		f := out.FieldByName(name)
		if !f.IsValid() {
			t.Errorf("UploadObjectInput.%s has no PutObjectInput field: map it, or list it in notCopied", name)
			continue
		}
		if f.IsZero() {
			t.Errorf("PutObjectInput.%s is empty after putInput", name)
		}
	}
}

// fill sets v to a non-zero value of its type.
func fill(t *testing.T, name string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Pointer:
		if v.Type().Elem() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(new(time.Now())))
			return
		}
		p := reflect.New(v.Type().Elem())
		fill(t, name, p.Elem())
		v.Set(p)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		m.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), reflect.ValueOf("v").Convert(v.Type().Elem()))
		v.Set(m)
	case reflect.Interface:
		// Body: left empty.
	default:
		t.Fatalf("fill: field %s has kind %s", name, v.Kind())
	}
}
