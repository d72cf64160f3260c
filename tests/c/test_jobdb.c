/*
 * test_jobdb: checks jobdb's C API the way a C program sees it, through
 * include/jobdb.h and the shared library.
 *
 * Run it in an empty folder: each test makes its databases and logs in a
 * subfolder of the current one. tests/c_api.rs builds it and runs it in a
 * fresh temporary folder, once plainly and once under valgrind.
 *
 * A failed check prints file:line, the test and what was seen, and the
 * run goes on; the exit status is 1 when any check failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "jobdb.h"

/* Two bytes that can never appear in UTF-8. Kept apart from what follows
 * it in a literal, so that no hex digit extends the escape. */
#define NOT_UTF8 "\xff\xfe"

/* ---- Checks ---------------------------------------------------------- */

static const char *current_test = "(no test)";
static int checks_run;
static int checks_failed;

/* Prints one failure as file:line, the test and the message. */
static void report_failure(const char *file, int line, const char *format,
                           ...)
{
    va_list args;

    checks_failed++;
    fprintf(stderr, "%s:%d: in %s: ", file, line, current_test);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
}

static void check_true(int ok, const char *expression, const char *file,
                       int line)
{
    checks_run++;
    if (!ok)
        report_failure(file, line, "check failed: %s", expression);
}

/* Checks a result code; on a mismatch shows the document the call
 * returned, which says why. */
static void check_call(int actual, int expected, const char *document,
                       const char *call, const char *file, int line)
{
    checks_run++;
    if (actual != expected)
        report_failure(file, line,
                       "%s returned %s (%d), expected %s (%d); it said: %s",
                       call, jobdb_code_name(actual), actual,
                       jobdb_code_name(expected), expected,
                       document != NULL ? document : "(NULL)");
}

static void check_contains(const char *text, const char *needle, int wanted,
                           const char *file, int line)
{
    checks_run++;
    if (text == NULL || (strstr(text, needle) != NULL) != wanted)
        report_failure(file, line, "expected %s %s in: %s",
                       wanted ? "to find" : "not to find", needle,
                       text != NULL ? text : "(NULL)");
}

static void check_strings_equal(const char *actual, const char *expected,
                                const char *file, int line)
{
    checks_run++;
    if (actual == NULL || strcmp(actual, expected) != 0)
        report_failure(file, line, "expected \"%s\", got \"%s\"", expected,
                       actual != NULL ? actual : "(NULL)");
}

#define CHECK(condition) \
    check_true((condition) != 0, #condition, __FILE__, __LINE__)

/* `call` runs before `document` is read: the macro sequences the two. */
#define CHECK_CALL(call, expected, document)                             \
    do {                                                                 \
        int code_ = (call);                                              \
        check_call(code_, (expected), (document), #call, __FILE__,       \
                   __LINE__);                                            \
    } while (0)

/* For calls that return no document to show. */
#define CHECK_CODE(call, expected)                                       \
    do {                                                                 \
        int code_ = (call);                                              \
        check_call(code_, (expected), NULL, #call, __FILE__, __LINE__);  \
    } while (0)

#define CHECK_CONTAINS(text, needle) \
    check_contains((text), (needle), 1, __FILE__, __LINE__)
#define CHECK_LACKS(text, needle) \
    check_contains((text), (needle), 0, __FILE__, __LINE__)
#define CHECK_STREQ(actual, expected) \
    check_strings_equal((actual), (expected), __FILE__, __LINE__)

/* ---- Helpers --------------------------------------------------------- */

/* Opens a database in a new folder; NULL, after a failed check, when it
 * cannot. */
static JobDb *open_test_db(const char *folder)
{
    JobDb *db = NULL;
    char *error = NULL;

    CHECK_CALL(jobdb_open(folder, &db, &error), JOBDB_OK, error);
    jobdb_string_free(error);
    return db;
}

/* Stores a job, checking that it worked. */
static void put_job(JobDb *db, const char *job_json)
{
    char *record = NULL;

    CHECK_CALL(jobdb_update_status(db, job_json, &record), JOBDB_OK, record);
    jobdb_string_free(record);
}

static int is_directory(const char *path)
{
    struct stat info;

    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static int is_regular_file(const char *path)
{
    struct stat info;

    return stat(path, &info) == 0 && S_ISREG(info.st_mode);
}

static int path_exists(const char *path)
{
    struct stat info;

    return stat(path, &info) == 0;
}

static int make_folder(const char *path)
{
    return mkdir(path, 0755) == 0 || errno == EEXIST;
}

/* Writes `text` to a new file; true when all of it was written. */
static int write_file(const char *path, const char *text)
{
    size_t size = strlen(text);
    FILE *file = fopen(path, "wb");
    int written;

    if (file == NULL)
        return 0;
    written = fwrite(text, 1, size, file) == size;
    return fclose(file) == 0 && written;
}

/* Whether `text` starts with a time as jobdb returns them: UTC, six
 * fraction digits and a Z, such as 2024-05-01T12:00:00.000000Z. */
static int starts_with_utc_time(const char *text)
{
    static const char pattern[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    size_t i;

    if (text == NULL)
        return 0;
    /* A shorter text stops the loop at its NUL, which matches nothing. */
    for (i = 0; pattern[i] != '\0'; i++) {
        int ok = pattern[i] == 'd' ? isdigit((unsigned char)text[i])
                                   : text[i] == pattern[i];
        if (!ok)
            return 0;
    }
    return 1;
}

/* What follows the first `needle` in `text`; NULL when it is absent. */
static const char *text_after(const char *text, const char *needle)
{
    const char *found = text != NULL ? strstr(text, needle) : NULL;

    return found != NULL ? found + strlen(needle) : NULL;
}

/*
 * The LOG object of one stream, "stdout" or "stderr", copied out of a
 * jobdb_job_logs document so that a check on one stream cannot match the
 * other. The document is {"self_id":..,"stdout":LOG,"stderr":LOG}; a
 * quote inside a JSON string is escaped, so only the key itself can read
 * ,"stderr": and the split is exact. Free the copy with free().
 */
static char *log_stream(const char *logs_json, const char *stream)
{
    const char *start;
    const char *end;

    if (logs_json == NULL)
        return NULL;
    if (strcmp(stream, "stdout") == 0) {
        start = text_after(logs_json, "\"stdout\":");
        end = strstr(logs_json, ",\"stderr\":");
    } else {
        start = text_after(logs_json, ",\"stderr\":");
        end = start != NULL ? start + strlen(start) - 1 : NULL;
    }
    if (start == NULL || end == NULL || end < start)
        return NULL;
    return strndup(start, (size_t)(end - start));
}

/* ---- Version and code names ------------------------------------------ */

static void test_version_and_code_names(void)
{
    const char *version = jobdb_version();
    int code;

    CHECK(version != NULL && version[0] != '\0');
    CHECK_STREQ(jobdb_code_name(JOBDB_OK), "JOBDB_OK");
    CHECK_STREQ(jobdb_code_name(JOBDB_ERR_BUSY), "JOBDB_ERR_BUSY");
    CHECK_STREQ(jobdb_code_name(JOBDB_ERR_NOT_FOUND), "JOBDB_ERR_NOT_FOUND");
    CHECK_STREQ(jobdb_code_name(JOBDB_ERR_INTERNAL), "JOBDB_ERR_INTERNAL");
    CHECK_STREQ(jobdb_code_name(-1), "JOBDB_ERR_UNKNOWN");
    CHECK_STREQ(jobdb_code_name(JOBDB_ERR_CONFLICT), "JOBDB_ERR_CONFLICT");
    CHECK_STREQ(jobdb_code_name(JOBDB_ERR_CONFLICT + 1), "JOBDB_ERR_UNKNOWN");
    for (code = JOBDB_ERR_INVALID_ARGUMENT; code <= JOBDB_ERR_CONFLICT;
         code++) {
        const char *name = jobdb_code_name(code);

        CHECK(strncmp(name, "JOBDB_ERR_", 10) == 0);
        CHECK(strcmp(name, "JOBDB_ERR_UNKNOWN") != 0);
    }
}

/* ---- Opening --------------------------------------------------------- */

static void test_open_creates_folder_and_file(void)
{
    JobDb *db = NULL;
    char not_null;
    char *error = &not_null;

    CHECK(!path_exists("open"));
    CHECK_CALL(jobdb_open("open/nested/db", &db, &error), JOBDB_OK, NULL);
    CHECK(db != NULL);
    /* On success *out_error is set to NULL, so it is safe to free. */
    CHECK(error == NULL);
    CHECK(is_directory("open/nested/db"));
    CHECK(is_regular_file("open/nested/db/jobs.db"));
    jobdb_close(db);

    /* Opening again finds the existing file; out_error may be NULL. */
    db = NULL;
    CHECK_CODE(jobdb_open("open/nested/db", &db, NULL), JOBDB_OK);
    CHECK(db != NULL);
    jobdb_close(db);
}

static void test_open_folder_named_like_a_uri(void)
{
    JobDb *db = NULL;

    /* SQLite may read "file:..." as a URI; jobdb must not. */
    CHECK_CALL(jobdb_open("file:uri-like", &db, NULL), JOBDB_OK, NULL);
    CHECK(is_regular_file("file:uri-like/jobs.db"));
    CHECK(!path_exists("uri-like"));
    jobdb_close(db);
}

static void test_open_options(void)
{
    JobDb *db = NULL;
    char *error = NULL;

    CHECK_CALL(jobdb_open_with_options("options",
                                       "{\"busy_timeout_ms\":250,"
                                       "\"synchronous\":\"full\"}",
                                       &db, &error),
               JOBDB_OK, error);
    CHECK(db != NULL);
    jobdb_close(db);

    CHECK_CALL(jobdb_open_with_options("options", NULL, &db, &error),
               JOBDB_OK, error);
    jobdb_close(db);

    CHECK_CALL(jobdb_open_with_options("options", "{\"colour\":1}", &db,
                                       &error),
               JOBDB_ERR_SCHEMA, error);
    CHECK(db == NULL);
    CHECK_CONTAINS(error, "\"code\":3");
    CHECK_CONTAINS(error, "\"field\":\"colour\"");
    jobdb_string_free(error);

    CHECK_CALL(jobdb_open_with_options("options", "{\"synchronous\":", &db,
                                       &error),
               JOBDB_ERR_MALFORMED_JSON, error);
    CHECK(db == NULL);
    jobdb_string_free(error);
}

static void test_open_failures(void)
{
    JobDb *db = NULL;
    char *error = NULL;

    /* A file where the folder should be: the folder cannot be made. */
    CHECK(write_file("blocker", "x"));
    CHECK_CALL(jobdb_open("blocker/db", &db, &error), JOBDB_ERR_IO, error);
    CHECK(db == NULL);
    CHECK_CONTAINS(error, "\"code\":6");
    CHECK_CONTAINS(error, "\"name\":\"JOBDB_ERR_IO\"");
    jobdb_string_free(error);

    CHECK_CALL(jobdb_open("", &db, &error), JOBDB_ERR_INVALID_ARGUMENT,
               error);
    CHECK(db == NULL);
    jobdb_string_free(error);

    /* Without out_error the code alone reports the failure. */
    CHECK_CODE(jobdb_open("", &db, NULL), JOBDB_ERR_INVALID_ARGUMENT);

    /* A file that is not SQLite is reported, not overwritten. */
    CHECK(make_folder("corrupt"));
    CHECK(write_file("corrupt/jobs.db", "This is text, not SQLite.\n"));
    CHECK_CALL(jobdb_open("corrupt", &db, &error), JOBDB_ERR_CORRUPT, error);
    CHECK(db == NULL);
    jobdb_string_free(error);
}

/* ---- Updating and reading -------------------------------------------- */

static void test_update_creates_and_returns_the_record(void)
{
    JobDb *db = open_test_db("update");
    char *record = NULL;
    char *again = NULL;

    if (db == NULL)
        return;
    CHECK_CALL(jobdb_update_status(db,
                                   "{\"self_id\":\"build-42\","
                                   "\"status\":\"running\","
                                   "\"last_pid\":4242,\"cwd\":\"/srv\","
                                   "\"logdir\":\"/srv/logs\","
                                   "\"logfile\":\"build-42\"}",
                                   &record),
               JOBDB_OK, record);
    CHECK_CONTAINS(record, "\"status\":\"running\"");
    /* Every field, null when unset, in the documented order. */
    CHECK_CONTAINS(record, "{\"self_id\":\"build-42\","
                           "\"status\":\"running\",\"last_update\":\"");
    CHECK_CONTAINS(record, "Z\",\"last_pid\":4242,\"dirname\":null,"
                           "\"cwd\":\"/srv\",\"logdir\":\"/srv/logs\","
                           "\"logfile\":\"build-42\",\"exit_code\":null,"
                           "\"command\":null,\"created_at\":\"");
    CHECK_CONTAINS(record, "Z\",\"started_at\":null,\"ended_at\":null,"
                           "\"metadata\":null}");
    CHECK(starts_with_utc_time(text_after(record, "\"last_update\":\"")));

    /* Reading the job back gives the very same document. */
    CHECK_CALL(jobdb_get_status(db, "build-42", &again), JOBDB_OK, again);
    CHECK(record != NULL && again != NULL && strcmp(record, again) == 0);
    jobdb_string_free(record);
    jobdb_string_free(again);

    /* A time with an offset is stored, and returned, in UTC. */
    CHECK_CALL(jobdb_update_status(db,
                                   "{\"self_id\":\"clock\",\"status\":\"x\","
                                   "\"last_update\":"
                                   "\"2024-05-01T14:00:00+02:00\"}",
                                   &record),
               JOBDB_OK, record);
    CHECK_CONTAINS(record, "\"last_update\":\"2024-05-01T12:00:00.000000Z\"");
    jobdb_string_free(record);
    jobdb_close(db);
}

static void test_update_refuses_bad_records(void)
{
    JobDb *db = open_test_db("refuse");
    char *out = NULL;

    if (db == NULL)
        return;
    /* A new job needs a status; nothing is stored without one. */
    CHECK_CALL(jobdb_update_status(db, "{\"self_id\":\"new\"}", &out),
               JOBDB_ERR_SCHEMA, out);
    CHECK_CONTAINS(out, "\"field\":\"status\"");
    jobdb_string_free(out);
    CHECK_CALL(jobdb_get_status(db, "new", &out), JOBDB_ERR_NOT_FOUND, out);
    jobdb_string_free(out);

    CHECK_CALL(jobdb_update_status(db,
                                   "{\"self_id\":\"a\",\"status\":\"x\","
                                   "\"colour\":\"red\"}",
                                   &out),
               JOBDB_ERR_SCHEMA, out);
    CHECK_CONTAINS(out, "\"field\":\"colour\"");
    jobdb_string_free(out);

    CHECK_CALL(jobdb_update_status(db,
                                   "{\"self_id\":\"a\",\"status\":\"x\","
                                   "\"last_pid\":\"7\"}",
                                   &out),
               JOBDB_ERR_SCHEMA, out);
    CHECK_CONTAINS(out, "\"field\":\"last_pid\"");
    jobdb_string_free(out);

    CHECK_CALL(jobdb_update_status(db, "[]", &out), JOBDB_ERR_SCHEMA, out);
    jobdb_string_free(out);

    CHECK_CALL(jobdb_update_status(db, "{\"self_id\":", &out),
               JOBDB_ERR_MALFORMED_JSON, out);
    CHECK_CONTAINS(out, "\"code\":2");
    CHECK_CONTAINS(out, "\"name\":\"JOBDB_ERR_MALFORMED_JSON\"");
    jobdb_string_free(out);

    CHECK_CALL(jobdb_update_status(db, "", &out), JOBDB_ERR_MALFORMED_JSON,
               out);
    jobdb_string_free(out);

    /* Text that is not UTF-8 is refused before it is parsed, and the
     * error about it is itself clean text. */
    CHECK_CALL(jobdb_update_status(db,
                                   "{\"self_id\":\"" NOT_UTF8 "\","
                                   "\"status\":\"x\"}",
                                   &out),
               JOBDB_ERR_INVALID_ARGUMENT, out);
    CHECK_CONTAINS(out, "\"code\":1");
    CHECK(out != NULL && strchr(out, '\xff') == NULL);
    jobdb_string_free(out);

    CHECK_CALL(jobdb_get_status(db, "a" NOT_UTF8, &out),
               JOBDB_ERR_INVALID_ARGUMENT, out);
    jobdb_string_free(out);
    jobdb_close(db);
}

static void test_partial_update_and_null(void)
{
    JobDb *db = open_test_db("partial");
    char *record = NULL;

    if (db == NULL)
        return;
    put_job(db, "{\"self_id\":\"p\",\"status\":\"running\",\"last_pid\":7,"
                "\"cwd\":\"/srv\",\"logdir\":\"/srv/logs\"}");

    /* Fields left out keep their stored values. */
    CHECK_CALL(jobdb_update_status(
                   db, "{\"self_id\":\"p\",\"status\":\"finished\"}", &record),
               JOBDB_OK, record);
    CHECK_CONTAINS(record, "\"status\":\"finished\"");
    CHECK_CONTAINS(record, "\"last_pid\":7,");
    CHECK_CONTAINS(record, "\"cwd\":\"/srv\"");
    CHECK_CONTAINS(record, "\"logdir\":\"/srv/logs\"");
    jobdb_string_free(record);

    /* An explicit null clears one field and only that one. */
    CHECK_CALL(jobdb_update_status(db, "{\"self_id\":\"p\",\"cwd\":null}",
                                   &record),
               JOBDB_OK, record);
    CHECK_CONTAINS(record, "\"cwd\":null");
    CHECK_CONTAINS(record, "\"status\":\"finished\"");
    CHECK_CONTAINS(record, "\"last_pid\":7,");
    jobdb_string_free(record);

    CHECK_CALL(jobdb_get_status(db, "p", &record), JOBDB_OK, record);
    CHECK_CONTAINS(record, "\"cwd\":null");
    CHECK_CONTAINS(record, "\"logdir\":\"/srv/logs\"");
    jobdb_string_free(record);
    jobdb_close(db);
}

/* A self_id is JSON-escaped inside job_json but plain text as an argument
 * to jobdb_get_status; both must name the same job. */
static void test_escaped_and_unicode_ids(void)
{
    JobDb *db = open_test_db("escapes");
    char *record = NULL;

    if (db == NULL)
        return;
    put_job(db, "{\"self_id\":\"say \\\"hi\\\" C:\\\\jobs\","
                "\"status\":\"x\"}");
    CHECK_CALL(jobdb_get_status(db, "say \"hi\" C:\\jobs", &record),
               JOBDB_OK, record);
    CHECK_CONTAINS(record, "\"self_id\":\"say \\\"hi\\\" C:\\\\jobs\"");
    jobdb_string_free(record);

    /* \u00e9 in JSON is the two UTF-8 bytes of "é" as an argument. */
    put_job(db, "{\"self_id\":\"caf\\u00e9\",\"status\":\"x\"}");
    CHECK_CALL(jobdb_get_status(db, "caf\xc3\xa9", &record), JOBDB_OK,
               record);
    CHECK_CONTAINS(record, "\"self_id\":\"caf\xc3\xa9\"");
    jobdb_string_free(record);
    jobdb_close(db);
}

static void test_get_missing_job(void)
{
    JobDb *db = open_test_db("missing");
    char *out = NULL;

    if (db == NULL)
        return;
    CHECK_CALL(jobdb_get_status(db, "nobody", &out), JOBDB_ERR_NOT_FOUND,
               out);
    CHECK_CONTAINS(out, "\"code\":4");
    CHECK_CONTAINS(out, "\"name\":\"JOBDB_ERR_NOT_FOUND\"");
    CHECK_CONTAINS(out, "nobody");
    jobdb_string_free(out);

    CHECK_CALL(jobdb_get_status(db, "", &out), JOBDB_ERR_INVALID_ARGUMENT,
               out);
    jobdb_string_free(out);
    jobdb_close(db);
}

/* A job written through one handle is seen through another, and after the
 * database is closed and opened again. */
static void test_handles_share_one_database(void)
{
    JobDb *writer = open_test_db("shared");
    JobDb *reader = open_test_db("shared");
    char *record = NULL;

    if (writer != NULL && reader != NULL) {
        put_job(writer, "{\"self_id\":\"kept\",\"status\":\"queued\"}");
        CHECK_CALL(jobdb_get_status(reader, "kept", &record), JOBDB_OK,
                   record);
        jobdb_string_free(record);
    }
    jobdb_close(writer);
    jobdb_close(reader);

    reader = open_test_db("shared");
    if (reader == NULL)
        return;
    CHECK_CALL(jobdb_get_status(reader, "kept", &record), JOBDB_OK, record);
    CHECK_CONTAINS(record, "\"status\":\"queued\"");
    jobdb_string_free(record);
    jobdb_close(reader);
}

/* ---- Listing --------------------------------------------------------- */

static void test_list_all_and_by_status(void)
{
    JobDb *db = open_test_db("list");
    char *all = NULL;
    char *out = NULL;
    const char *a;
    const char *b;
    const char *c;

    if (db == NULL)
        return;
    CHECK_CALL(jobdb_list_status(db, "{}", &out), JOBDB_OK, out);
    CHECK_STREQ(out, "{}");
    jobdb_string_free(out);

    /* Stored out of order, to see the listing sort by self_id. */
    put_job(db, "{\"self_id\":\"c\",\"status\":\"running\"}");
    put_job(db, "{\"self_id\":\"a\",\"status\":\"running\",\"last_pid\":1}");
    put_job(db, "{\"self_id\":\"b\",\"status\":\"finished\"}");

    CHECK_CALL(jobdb_list_status(db, "{}", &all), JOBDB_OK, all);
    a = all != NULL ? strstr(all, "\"a\":{\"self_id\":\"a\"") : NULL;
    b = all != NULL ? strstr(all, "\"b\":{\"self_id\":\"b\"") : NULL;
    c = all != NULL ? strstr(all, "\"c\":{\"self_id\":\"c\"") : NULL;
    CHECK(a != NULL && b != NULL && c != NULL);
    CHECK(a < b && b < c);

    /* A NULL filter means the same as {}. */
    CHECK_CALL(jobdb_list_status(db, NULL, &out), JOBDB_OK, out);
    CHECK(all != NULL && out != NULL && strcmp(all, out) == 0);
    jobdb_string_free(out);
    jobdb_string_free(all);

    CHECK_CALL(jobdb_list_status(db, "{\"status\":\"running\"}", &out),
               JOBDB_OK, out);
    CHECK_CONTAINS(out, "\"a\":{");
    CHECK_CONTAINS(out, "\"c\":{");
    CHECK_LACKS(out, "\"b\":{");
    jobdb_string_free(out);

    /* null matches a field that is unset. */
    CHECK_CALL(jobdb_list_status(db, "{\"last_pid\":null}", &out), JOBDB_OK,
               out);
    CHECK_LACKS(out, "\"a\":{");
    CHECK_CONTAINS(out, "\"b\":{");
    jobdb_string_free(out);

    CHECK_CALL(jobdb_list_status(db, "{\"status\":\"nobody\"}", &out),
               JOBDB_OK, out);
    CHECK_STREQ(out, "{}");
    jobdb_string_free(out);
    jobdb_close(db);
}

static void test_list_refuses_bad_filters(void)
{
    JobDb *db = open_test_db("filters");
    char *out = NULL;

    if (db == NULL)
        return;
    /* A typo must not list every job. */
    CHECK_CALL(jobdb_list_status(db, "{\"stauts\":\"running\"}", &out),
               JOBDB_ERR_SCHEMA, out);
    CHECK_CONTAINS(out, "\"code\":3");
    CHECK_CONTAINS(out, "\"field\":\"stauts\"");
    jobdb_string_free(out);

    CHECK_CALL(jobdb_list_status(db, "{\"status\":", &out),
               JOBDB_ERR_MALFORMED_JSON, out);
    CHECK_CONTAINS(out, "\"code\":2");
    jobdb_string_free(out);

    CHECK_CALL(jobdb_list_status(db, "{\"status\":\"" NOT_UTF8 "\"}", &out),
               JOBDB_ERR_INVALID_ARGUMENT, out);
    jobdb_string_free(out);
    jobdb_close(db);
}

/* ---- Logs ------------------------------------------------------------ */

static void test_logs_need_a_location(void)
{
    JobDb *db = open_test_db("nologs");
    char *out = NULL;

    if (db == NULL)
        return;
    put_job(db, "{\"self_id\":\"bare\",\"status\":\"x\"}");
    CHECK_CALL(jobdb_job_logs(db, "bare", &out), JOBDB_ERR_NO_LOGS, out);
    CHECK_CONTAINS(out, "\"code\":9");
    CHECK_CONTAINS(out, "\"field\":\"logdir\"");
    jobdb_string_free(out);

    put_job(db, "{\"self_id\":\"half\",\"status\":\"x\",\"logdir\":\"l\"}");
    CHECK_CALL(jobdb_job_logs(db, "half", &out), JOBDB_ERR_NO_LOGS, out);
    CHECK_CONTAINS(out, "\"field\":\"logfile\"");
    jobdb_string_free(out);

    CHECK_CALL(jobdb_job_logs(db, "nobody", &out), JOBDB_ERR_NOT_FOUND, out);
    jobdb_string_free(out);
    jobdb_close(db);
}

/* Checks one stream of a jobdb_job_logs document against what is
 * expected of it: each needle must appear within that stream. */
static void check_stream(const char *logs_json, const char *stream,
                         const char *const needles[], const char *file,
                         int line)
{
    char *log = log_stream(logs_json, stream);
    size_t i;

    checks_run++;
    if (log == NULL) {
        report_failure(file, line, "no %s stream in: %s", stream,
                       logs_json != NULL ? logs_json : "(NULL)");
        return;
    }
    for (i = 0; needles[i] != NULL; i++)
        check_contains(log, needles[i], 1, file, line);
    free(log);
}

#define CHECK_STREAM(logs_json, stream, ...)                             \
    do {                                                                 \
        static const char *const needles_[] = {__VA_ARGS__, NULL};       \
        check_stream((logs_json), (stream), needles_, __FILE__,         \
                     __LINE__);                                          \
    } while (0)

static void test_logs_missing_empty_and_read(void)
{
    JobDb *db = open_test_db("logs");
    char *logs = NULL;

    if (db == NULL)
        return;
    CHECK(make_folder("logs/files"));

    /* No files at all: each stream says so; neither is an empty log. */
    put_job(db, "{\"self_id\":\"gone\",\"status\":\"x\","
                "\"logdir\":\"logs/files\",\"logfile\":\"gone\"}");
    CHECK_CALL(jobdb_job_logs(db, "gone", &logs), JOBDB_OK, logs);
    CHECK_CONTAINS(logs, "{\"self_id\":\"gone\",\"stdout\":{");
    CHECK_STREAM(logs, "stdout", "\"path\":\"logs/files/gone_out.txt\"",
                 "\"text\":null", "\"size\":null", "\"error\":{\"code\":4");
    CHECK_STREAM(logs, "stderr", "\"path\":\"logs/files/gone_errors.txt\"",
                 "\"text\":null", "\"error\":{\"code\":4");
    jobdb_string_free(logs);

    /* Empty files are empty text, with no error. */
    CHECK(write_file("logs/files/quiet_out.txt", ""));
    CHECK(write_file("logs/files/quiet_errors.txt", ""));
    put_job(db, "{\"self_id\":\"quiet\",\"status\":\"x\","
                "\"logdir\":\"logs/files\",\"logfile\":\"quiet\"}");
    CHECK_CALL(jobdb_job_logs(db, "quiet", &logs), JOBDB_OK, logs);
    CHECK_STREAM(logs, "stdout", "\"text\":\"\"", "\"size\":0",
                 "\"invalid_utf8\":false", "\"error\":null");
    CHECK_STREAM(logs, "stderr", "\"text\":\"\"", "\"error\":null");
    jobdb_string_free(logs);

    /* One stream read, bytes that are not UTF-8 replaced and flagged; the
     * other stream missing, reported beside it. */
    CHECK(write_file("logs/files/mixed_out.txt", "hi\n" NOT_UTF8));
    put_job(db, "{\"self_id\":\"mixed\",\"status\":\"x\","
                "\"logdir\":\"logs/files\",\"logfile\":\"mixed\"}");
    CHECK_CALL(jobdb_job_logs(db, "mixed", &logs), JOBDB_OK, logs);
    CHECK_STREAM(logs, "stdout", "\"text\":\"hi\\n\xef\xbf\xbd\xef\xbf\xbd\"",
                 "\"size\":5", "\"invalid_utf8\":true", "\"error\":null");
    CHECK_STREAM(logs, "stderr", "\"text\":null", "\"error\":{\"code\":4");
    jobdb_string_free(logs);
    jobdb_close(db);
}

static void test_logs_odd_paths_and_files(void)
{
    JobDb *db = open_test_db("oddlogs");
    char *logs = NULL;

    if (db == NULL)
        return;
    /* A log folder whose name needs escaping in JSON. */
    CHECK(make_folder("oddlogs/say \"hi\" C:\\logs"));
    CHECK(write_file("oddlogs/say \"hi\" C:\\logs/q_out.txt", "quoted\n"));
    put_job(db, "{\"self_id\":\"q\",\"status\":\"x\","
                "\"logdir\":\"oddlogs/say \\\"hi\\\" C:\\\\logs\","
                "\"logfile\":\"q\"}");
    CHECK_CALL(jobdb_job_logs(db, "q", &logs), JOBDB_OK, logs);
    CHECK_STREAM(logs, "stdout", "\"text\":\"quoted\\n\"");
    jobdb_string_free(logs);

    /* A folder where a log file should be is an I/O error, per stream. */
    CHECK(make_folder("oddlogs/d_out.txt"));
    put_job(db, "{\"self_id\":\"d\",\"status\":\"x\","
                "\"logdir\":\"oddlogs\",\"logfile\":\"d\"}");
    CHECK_CALL(jobdb_job_logs(db, "d", &logs), JOBDB_OK, logs);
    CHECK_STREAM(logs, "stdout", "\"text\":null", "\"error\":{\"code\":6");
    CHECK_STREAM(logs, "stderr", "\"error\":{\"code\":4");
    jobdb_string_free(logs);
    jobdb_close(db);
}

/* ---- NULL arguments and closed handles ------------------------------- */

/* The four calls that take a handle, a string and out_json. */
typedef int (*json_function)(JobDb *, const char *, char **);

struct json_call {
    const char *name;
    json_function call;
    const char *valid_argument;
    /* What a NULL string argument gives: NULL is no filter for list. */
    int code_for_null_argument;
};

static const struct json_call JSON_CALLS[] = {
    {"jobdb_update_status", jobdb_update_status,
     "{\"self_id\":\"ghost\",\"status\":\"x\"}", JOBDB_ERR_INVALID_ARGUMENT},
    {"jobdb_get_status", jobdb_get_status, "ghost",
     JOBDB_ERR_INVALID_ARGUMENT},
    {"jobdb_list_status", jobdb_list_status, "{}", JOBDB_OK},
    {"jobdb_job_logs", jobdb_job_logs, "ghost", JOBDB_ERR_INVALID_ARGUMENT},
};

#define JSON_CALL_COUNT (sizeof JSON_CALLS / sizeof JSON_CALLS[0])

/* Calls one function with each of its pointers NULL in turn. */
static void check_null_arguments(JobDb *db, const struct json_call *c)
{
    char *out = NULL;
    char what[128];

    snprintf(what, sizeof what, "%s(NULL, argument, &out)", c->name);
    check_call(c->call(NULL, c->valid_argument, &out),
               JOBDB_ERR_INVALID_ARGUMENT, out, what, __FILE__, __LINE__);
    CHECK_CONTAINS(out, "\"code\":1");
    jobdb_string_free(out);

    snprintf(what, sizeof what, "%s(db, NULL, &out)", c->name);
    out = NULL;
    check_call(c->call(db, NULL, &out), c->code_for_null_argument, out, what,
               __FILE__, __LINE__);
    CHECK(out != NULL);
    jobdb_string_free(out);

    snprintf(what, sizeof what, "%s(db, argument, NULL)", c->name);
    check_call(c->call(db, c->valid_argument, NULL),
               JOBDB_ERR_INVALID_ARGUMENT, NULL, what, __FILE__, __LINE__);
}

static void test_null_arguments(void)
{
    JobDb *db = open_test_db("null");
    JobDb *other = NULL;
    char *out = NULL;
    size_t i;

    if (db == NULL)
        return;
    for (i = 0; i < JSON_CALL_COUNT; i++)
        check_null_arguments(db, &JSON_CALLS[i]);

    /* With out_json NULL the update above did nothing. */
    CHECK_CALL(jobdb_get_status(db, "ghost", &out), JOBDB_ERR_NOT_FOUND, out);
    jobdb_string_free(out);

    CHECK_CALL(jobdb_open(NULL, &other, &out), JOBDB_ERR_INVALID_ARGUMENT,
               out);
    CHECK(other == NULL);
    CHECK_CONTAINS(out, "\"code\":1");
    jobdb_string_free(out);
    CHECK_CODE(jobdb_open(NULL, &other, NULL), JOBDB_ERR_INVALID_ARGUMENT);

    /* Without out_db there is nowhere to put a handle: nothing is made. */
    CHECK_CALL(jobdb_open("null-unmade", NULL, &out),
               JOBDB_ERR_INVALID_ARGUMENT, out);
    CHECK_CONTAINS(out, "out_db");
    jobdb_string_free(out);
    CHECK(!path_exists("null-unmade"));
    CHECK_CODE(jobdb_open_with_options(NULL, NULL, NULL, NULL),
               JOBDB_ERR_INVALID_ARGUMENT);

    /* Both accept NULL and do nothing. */
    jobdb_close(NULL);
    jobdb_string_free(NULL);
    jobdb_close(db);
}

static void test_closed_handle(void)
{
    JobDb *db = open_test_db("closed");
    JobDb *still_open = open_test_db("closed");
    char *out = NULL;
    size_t i;

    if (db == NULL || still_open == NULL) {
        jobdb_close(db);
        jobdb_close(still_open);
        return;
    }
    put_job(db, "{\"self_id\":\"j\",\"status\":\"x\"}");
    jobdb_close(db);

    for (i = 0; i < JSON_CALL_COUNT; i++) {
        const struct json_call *c = &JSON_CALLS[i];
        char what[128];

        snprintf(what, sizeof what, "%s(closed db, argument, &out)",
                 c->name);
        out = NULL;
        check_call(c->call(db, c->valid_argument, &out),
                   JOBDB_ERR_INVALID_ARGUMENT, out, what, __FILE__,
                   __LINE__);
        CHECK_CONTAINS(out, "closed");
        jobdb_string_free(out);
    }
    /* Closing twice is ignored, and leaves other handles alone. */
    jobdb_close(db);
    CHECK_CALL(jobdb_get_status(still_open, "j", &out), JOBDB_OK, out);
    jobdb_string_free(out);
    jobdb_close(still_open);
}

/* ---- Threads --------------------------------------------------------- */

#define THREAD_COUNT 4
#define UPDATES_PER_THREAD 200

struct worker {
    JobDb *db;
    int index;
    /* Written by the worker alone, read after it is joined. */
    int failed_calls;
    int last_failed_code;
    int wrong_records;
};

/* Updates the worker's own job UPDATES_PER_THREAD times, last_pid 0 up. */
static void *update_own_job(void *argument)
{
    struct worker *worker = argument;
    char job_json[96];
    char expected[64];
    int i;

    for (i = 0; i < UPDATES_PER_THREAD; i++) {
        char *record = NULL;
        int code;

        snprintf(job_json, sizeof job_json,
                 "{\"self_id\":\"worker-%d\",\"status\":\"busy\","
                 "\"last_pid\":%d}", worker->index, i);
        snprintf(expected, sizeof expected,
                 "{\"self_id\":\"worker-%d\",", worker->index);
        code = jobdb_update_status(worker->db, job_json, &record);
        if (code != JOBDB_OK) {
            worker->failed_calls++;
            worker->last_failed_code = code;
        } else if (strstr(record, expected) != record) {
            worker->wrong_records++;
        }
        jobdb_string_free(record);
    }
    return NULL;
}

static void test_threads_share_a_handle(void)
{
    JobDb *db = open_test_db("threads");
    pthread_t threads[THREAD_COUNT];
    struct worker workers[THREAD_COUNT];
    int started[THREAD_COUNT];
    int i;

    if (db == NULL)
        return;
    for (i = 0; i < THREAD_COUNT; i++) {
        workers[i].db = db;
        workers[i].index = i;
        workers[i].failed_calls = 0;
        workers[i].last_failed_code = JOBDB_OK;
        workers[i].wrong_records = 0;
        started[i] = pthread_create(&threads[i], NULL, update_own_job,
                                    &workers[i]) == 0;
        CHECK(started[i]);
    }
    for (i = 0; i < THREAD_COUNT; i++) {
        if (started[i])
            CHECK(pthread_join(threads[i], NULL) == 0);
    }

    for (i = 0; i < THREAD_COUNT; i++) {
        char self_id[32];
        char *record = NULL;

        CHECK(workers[i].failed_calls == 0);
        if (workers[i].failed_calls != 0)
            fprintf(stderr, "  worker %d: last failure %s\n", i,
                    jobdb_code_name(workers[i].last_failed_code));
        CHECK(workers[i].wrong_records == 0);
        snprintf(self_id, sizeof self_id, "worker-%d", i);
        CHECK_CALL(jobdb_get_status(db, self_id, &record), JOBDB_OK, record);
        CHECK_CONTAINS(record, "\"last_pid\":199,");
        jobdb_string_free(record);
    }
    jobdb_close(db);
}

/* Calls that race jobdb_close must each either work or report the closed
 * handle: never crash, never anything else. */
struct racer {
    JobDb *db;
    int index;
    int other_codes;
    int saw_closed;
};

#define MAX_RACE_CALLS 1000000

static void *update_until_closed(void *argument)
{
    struct racer *racer = argument;
    char job_json[64];
    long calls;

    snprintf(job_json, sizeof job_json,
             "{\"self_id\":\"racer-%d\",\"status\":\"busy\"}", racer->index);
    for (calls = 0; calls < MAX_RACE_CALLS && !racer->saw_closed; calls++) {
        char *record = NULL;
        int code = jobdb_update_status(racer->db, job_json, &record);

        if (code == JOBDB_ERR_INVALID_ARGUMENT)
            racer->saw_closed = 1;
        else if (code != JOBDB_OK)
            racer->other_codes++;
        jobdb_string_free(record);
    }
    return NULL;
}

static void test_close_while_threads_call(void)
{
    JobDb *db = open_test_db("race");
    pthread_t threads[THREAD_COUNT];
    struct racer racers[THREAD_COUNT];
    int started[THREAD_COUNT];
    struct timespec pause = {0, 20 * 1000 * 1000};
    int i;

    if (db == NULL)
        return;
    for (i = 0; i < THREAD_COUNT; i++) {
        racers[i].db = db;
        racers[i].index = i;
        racers[i].other_codes = 0;
        racers[i].saw_closed = 0;
        started[i] = pthread_create(&threads[i], NULL, update_until_closed,
                                    &racers[i]) == 0;
        CHECK(started[i]);
    }
    nanosleep(&pause, NULL);
    jobdb_close(db);
    for (i = 0; i < THREAD_COUNT; i++) {
        if (!started[i])
            continue;
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(racers[i].other_codes == 0);
        CHECK(racers[i].saw_closed);
    }
}

/* ---- Main ------------------------------------------------------------ */

#define RUN(test)                                                        \
    do {                                                                 \
        current_test = #test;                                            \
        printf("%s\n", #test);                                           \
        fflush(stdout);                                                  \
        test();                                                          \
    } while (0)

int main(void)
{
    RUN(test_version_and_code_names);
    RUN(test_open_creates_folder_and_file);
    RUN(test_open_folder_named_like_a_uri);
    RUN(test_open_options);
    RUN(test_open_failures);
    RUN(test_update_creates_and_returns_the_record);
    RUN(test_update_refuses_bad_records);
    RUN(test_partial_update_and_null);
    RUN(test_escaped_and_unicode_ids);
    RUN(test_get_missing_job);
    RUN(test_handles_share_one_database);
    RUN(test_list_all_and_by_status);
    RUN(test_list_refuses_bad_filters);
    RUN(test_logs_need_a_location);
    RUN(test_logs_missing_empty_and_read);
    RUN(test_logs_odd_paths_and_files);
    RUN(test_null_arguments);
    RUN(test_closed_handle);
    RUN(test_threads_share_a_handle);
    RUN(test_close_while_threads_call);

    printf("%d checks, %d failed\n", checks_run, checks_failed);
    return checks_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
