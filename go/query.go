package jobdb

// Order is the field a Query sorts jobs by. Ties are broken by self_id,
// in the same direction.
type Order string

// The orders jobdb knows. Jobs where the time field is null or unset come
// first, or last when the query is descending.
const (
	BySelfID     Order = "self_id" // the default
	ByLastUpdate Order = "last_update"
	ByCreatedAt  Order = "created_at"
	ByStartedAt  Order = "started_at"
	ByEndedAt    Order = "ended_at"
)

// MaxLimit is the largest page a Query may ask for, and the largest
// limit of Changes.
const MaxLimit = 100_000

// Query asks for jobs a page at a time: those that match Filter, sorted
// by OrderBy. The zero Query returns every job, by self_id, in one page.
type Query struct {
	Filter Filter
	// OrderBy is one of the By* constants; empty means BySelfID. Any
	// other value is refused (ErrSchema).
	OrderBy Order
	// Descending sorts newest or highest first.
	Descending bool
	// Limit is the page size, 1 to MaxLimit; 0 means no limit, every
	// match in one page. Anything else is refused (ErrSchema, Field
	// "limit").
	Limit int
	// Cursor is the NextCursor of the previous page, "" for the first.
	// It only continues a query with the same Filter, OrderBy and
	// Descending (Limit may differ); jobdb refuses any other cursor with
	// ErrSchema, Field "cursor".
	Cursor string
}

// MarshalJSON writes the query as jobdb_query takes it.
func (q Query) MarshalJSON() ([]byte, error) {
	filter, err := q.Filter.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var o object
	o.field("filter", builtJSON(filter))
	if q.OrderBy != "" {
		o.field("order_by", string(q.OrderBy))
	}
	if q.Descending {
		o.field("descending", builtJSON("true"))
	}
	if q.Limit != 0 {
		o.field("limit", int64(q.Limit))
	}
	if q.Cursor != "" {
		o.field("cursor", q.Cursor)
	}
	return o.finish()
}

// Page is one page of a query's results.
type Page struct {
	// Jobs are the jobs of the page, in the query's order; empty, not
	// nil, when none.
	Jobs []Job
	// NextCursor continues the query on the next page (set it as the
	// Query's Cursor); "" on the last page.
	NextCursor string
}

// wirePage is jobdb_query's reply.
type wirePage struct {
	Jobs       []Job   `json:"jobs"`
	NextCursor *string `json:"next_cursor"`
}

// DefaultPageSize is the page size Iterate uses for a Query without a
// Limit.
const DefaultPageSize = 1000

// Iterator walks through every job of a query, a page at a time, asking
// jobdb for the next page when the current one is used up. Use it as
// bufio.Scanner or sql.Rows:
//
//	it := db.Iterate(jobdb.Query{Filter: jobdb.Filter{Status: "failed"}})
//	for it.Next() {
//		job := it.Job()
//		...
//	}
//	if err := it.Err(); err != nil {
//		...
//	}
//
// Pages follow on from each other even when jobs are added or deleted in
// between: each starts after the last job of the one before, so a job that
// stays is returned once. A job that changes its sort key may move to a
// page already read, or to one still to come.
type Iterator struct {
	db    *DB
	query Query
	jobs  []Job
	next  int
	job   Job
	err   error
	done  bool
}

// Iterate returns an Iterator over every job that q matches, from q.Cursor
// on. q.Limit is the page size; zero means DefaultPageSize.
func (db *DB) Iterate(q Query) *Iterator {
	if q.Limit == 0 {
		q.Limit = DefaultPageSize
	}
	return &Iterator{db: db, query: q}
}

// Next moves to the next job and reports whether there is one. It returns
// false at the end of the results and after an error; Err tells which.
func (it *Iterator) Next() bool {
	for it.next >= len(it.jobs) {
		if it.done || it.err != nil {
			it.job = Job{}
			return false
		}
		page, err := it.db.Query(it.query)
		if err != nil {
			it.err = err
			it.job = Job{}
			return false
		}
		it.jobs, it.next = page.Jobs, 0
		it.query.Cursor = page.NextCursor
		it.done = page.NextCursor == ""
	}
	it.job = it.jobs[it.next]
	it.jobs[it.next] = Job{} // let the page's jobs go as they are used
	it.next++
	return true
}

// Job returns the job Next moved to.
func (it *Iterator) Job() Job { return it.job }

// Err returns the error that stopped the iteration, or nil when it ran to
// the end.
func (it *Iterator) Err() error { return it.err }
