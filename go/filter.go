package jobdb

import (
	"fmt"
	"math"
	"time"
)

// Scalar is the set of types a Filter compares: the int64, string and
// time.Time fields of a record.
type Scalar interface {
	int64 | string | time.Time
}

// Cond is a condition on one field of a Filter, for a field of type T.
// The nil Cond does not filter. Make one with:
//
//   - [Eq], or [Set]: the field equals the value;
//   - [Null]: the field is null or unset;
//   - [Ne]: the field differs from the value (a null field differs from
//     every value); [NotNull]: the field is set;
//   - [In]: the field equals one of the values (none: matches nothing);
//   - [Gt], [Gte], [Lt], [Lte]: ranges; [Between] is Gte and Lt together;
//   - [And]: several conditions, all of which must hold.
//
// Strings compare by their bytes, integers by value and times as instants,
// whatever their time zone. A Cond is typed: a Cond[int64] cannot be given
// for a string field. [Field] values implement Cond, so a Filter also takes
// Set(v) and Null[T]().
type Cond[T Scalar] interface {
	// filterTerms returns the condition's terms. Its argument, always
	// nil, ties the method set to T, so that a Cond[string] is not a
	// Cond[int64].
	filterTerms(*T) []term
}

// term is one comparison: op is "" for equality or one of jobdb's
// operators ($ne, $in, $gt, $gte, $lt, $lte); values holds one value
// (nil for null), or for $in any number.
type term struct {
	op     string
	values []any
}

// conds is the Cond that the constructors return.
type conds[T Scalar] []term

func (c conds[T]) filterTerms(*T) []term { return c }

// filterTerms makes a Field usable as a Cond: Set(v) asks for equality,
// Null for a null or unset field, and the zero Field does not filter.
func (f Field[T]) filterTerms(*T) []term {
	switch f.state {
	case fieldNull:
		return []term{{values: []any{nil}}}
	case fieldValue:
		return []term{{values: []any{f.value}}}
	default:
		return nil
	}
}

func single[T Scalar](op string, v T) Cond[T] {
	return conds[T]{{op: op, values: []any{v}}}
}

// Eq matches jobs whose field equals v. It is the same as Set(v).
func Eq[T Scalar](v T) Cond[T] { return single("", v) }

// Ne matches jobs whose field differs from v, including jobs where the
// field is null or unset.
func Ne[T Scalar](v T) Cond[T] { return single("$ne", v) }

// NotNull matches jobs where the field is set (not null).
func NotNull[T Scalar]() Cond[T] {
	return conds[T]{{op: "$ne", values: []any{nil}}}
}

// In matches jobs whose field equals one of vs. With no values it
// matches nothing.
func In[T Scalar](vs ...T) Cond[T] {
	values := make([]any, len(vs))
	for i, v := range vs {
		values[i] = v
	}
	return conds[T]{{op: "$in", values: values}}
}

// Gt matches jobs whose field is greater (later) than v; a null field
// never matches a range.
func Gt[T Scalar](v T) Cond[T] { return single("$gt", v) }

// Gte matches jobs whose field is greater than or equal to v.
func Gte[T Scalar](v T) Cond[T] { return single("$gte", v) }

// Lt matches jobs whose field is less (earlier) than v.
func Lt[T Scalar](v T) Cond[T] { return single("$lt", v) }

// Lte matches jobs whose field is less than or equal to v.
func Lte[T Scalar](v T) Cond[T] { return single("$lte", v) }

// Between matches jobs whose field is in the half-open range [from, to):
// Gte(from) and Lt(to).
func Between[T Scalar](from, to T) Cond[T] {
	return conds[T]{{op: "$gte", values: []any{from}}, {op: "$lt", values: []any{to}}}
}

// And matches jobs that meet every one of cs, on the same field; nil
// conditions are skipped. jobdb takes one object of operators per field,
// so And merges what it can into one: equalities and In lists into the
// values they share, bounds of one kind into the tightest, NotNull into
// the other conditions. What cannot be merged, two Ne of different values,
// is refused with ErrSchema.
func And[T Scalar](cs ...Cond[T]) Cond[T] {
	var all conds[T]
	for _, c := range cs {
		if c != nil {
			all = append(all, c.filterTerms(nil)...)
		}
	}
	return all
}

// filterField adds the condition on one field to a filter object.
func filterField[T Scalar](o *object, name string, c Cond[T]) {
	if c == nil || o.err != nil {
		return
	}
	addTerms(o, name, c.filterTerms(nil))
}

// addTerms writes terms on one field: a single equality as a plain value,
// anything else as an object of operators, in which an equality becomes
// $in with one value.
func addTerms(o *object, name string, terms []term) {
	switch {
	case len(terms) == 0 || o.err != nil:
		return
	case len(terms) == 1 && terms[0].op == "":
		o.field(name, terms[0].values[0])
		return
	}
	terms = simplify(terms)
	if len(terms) == 1 && terms[0].op == "" {
		o.field(name, terms[0].values[0])
		return
	}
	ops := object{owner: name}
	seen := make(map[string]bool)
	for _, t := range terms {
		op := t.op
		if op == "" {
			op = "$in"
		}
		if seen[op] {
			o.err = newError(CodeSchema, name, fmt.Sprintf(
				"the filter on %s has two %s conditions; jobdb takes one per field", name, op))
			return
		}
		seen[op] = true
		if op == "$in" {
			ops.field(op, t.values)
		} else {
			ops.field(op, t.values[0])
		}
	}
	text, err := ops.finish()
	if err != nil {
		o.err = err
		return
	}
	o.field(name, builtJSON(text))
}

// simplify rewrites terms into ones jobdb's object of operators can hold,
// with the same meaning: a term given twice counts once; equalities and
// $in lists become one $in of the values they share; several bounds of one
// kind keep the tightest; NotNull ($ne null) next to a term that rules out
// null goes, and next to another $ne becomes $gte the least value of the
// type, which every value that is not null meets. Only two $ne of
// different values are left for addTerms to refuse.
func simplify(terms []term) []term {
	var out []term
	in, merged := -1, false // the index of the one equality or $in
	bounds := make(map[string]int)
	for _, t := range terms {
		switch t.op {
		case "", "$in":
			if in < 0 {
				in = len(out)
				out = append(out, t)
				continue
			}
			var shared []any
			for _, v := range out[in].values {
				if containsValue(t.values, v) && !containsValue(shared, v) {
					shared = append(shared, v)
				}
			}
			if shared == nil {
				shared = []any{}
			}
			out[in], merged = term{op: "$in", values: shared}, true
		case "$gt", "$gte", "$lt", "$lte":
			i, seen := bounds[t.op]
			if !seen {
				bounds[t.op] = len(out)
				out = append(out, t)
				continue
			}
			old, v := out[i].values[0], t.values[0]
			if (t.op == "$gt" || t.op == "$gte") == less(old, v) {
				out[i] = t
			}
		default:
			if !containsTerm(out, t) {
				out = append(out, t)
			}
		}
	}
	if merged && len(out[in].values) == 1 {
		out[in].op = "" // equalities that agree
	}

	notNull, excludesNull := -1, false
	var ne any
	for i, t := range out {
		switch {
		case t.op == "$ne" && t.values[0] == nil:
			notNull = i
		case t.op == "$ne":
			ne = t.values[0]
		case t.op == "$in" || t.op == "":
			excludesNull = excludesNull || !containsValue(t.values, nil)
		default: // a bound
			excludesNull = true
		}
	}
	if notNull < 0 {
		return out
	}
	if excludesNull {
		return append(out[:notNull:notNull], out[notNull+1:]...)
	}
	if ne != nil {
		out[notNull] = term{op: "$gte", values: []any{leastValue(ne)}}
	}
	return out
}

// less orders two values of one Scalar type.
func less(a, b any) bool {
	switch a := a.(type) {
	case int64:
		return a < b.(int64)
	case string:
		return a < b.(string)
	case time.Time:
		return a.Before(b.(time.Time))
	}
	return false
}

// leastValue is the least value of v's type that jobdb stores.
func leastValue(v any) any {
	switch v.(type) {
	case int64:
		return int64(math.MinInt64)
	case time.Time:
		return time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	default:
		return ""
	}
}

func containsTerm(terms []term, t term) bool {
	for _, u := range terms {
		if u.op == t.op && len(u.values) == len(t.values) {
			same := true
			for i := range u.values {
				same = same && sameValue(u.values[i], t.values[i])
			}
			if same {
				return true
			}
		}
	}
	return false
}

func containsValue(values []any, v any) bool {
	for _, u := range values {
		if sameValue(u, v) {
			return true
		}
	}
	return false
}

// sameValue compares two filter values, times as instants.
func sameValue(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}
