/*
 * track_jobs: jobdb's demo. Runs three real shell commands, records the
 * life of each in a jobdb database, then lists the jobs by status and
 * prints their logs.
 *
 *     track_jobs [FOLDER]          FOLDER defaults to "jobdb-demo"
 *
 * The database lives in FOLDER/db and the logs in FOLDER/logs. The job
 * ids are fixed names, so running the demo again updates the same jobs.
 *
 * The demo prints the JSON documents jobdb returns as they are: C has no
 * standard JSON parser, and the documents are meant to be read.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobdb.h"

#define PROGRAM "track_jobs"
#define DEFAULT_FOLDER "jobdb-demo"

/* The exit status the shell convention gives a command that cannot run. */
#define EXIT_CANNOT_EXEC 127

/* One demo job: a stable id, which also names its log files, and the
 * command /bin/sh runs for it. */
struct demo_job {
    const char *id;
    const char *command;
};

static const struct demo_job DEMO_JOBS[] = {
    {"greet", "echo 'Hello from a jobdb demo job.'; "
              "echo \"I ran as process $$.\"; "
              "echo 'Goodbye.'"},
    {"fail", "echo 'Reading the input...'; "
             "echo 'error: no such file: missing-input.csv' >&2; "
             "exit 3"},
    /* \377\376 reach printf as octal escapes: two bytes that are not
     * UTF-8, which jobdb_job_logs replaces and flags. */
    {"binary", "printf 'Not UTF-8: \\377\\376 (end)\\n'"},
};

#define DEMO_JOB_COUNT (sizeof DEMO_JOBS / sizeof DEMO_JOBS[0])

/* Where the jobs run and where their logs go, as absolute paths, so the
 * records mean the same to any process that reads them. */
struct places {
    char *cwd;
    char *logdir;
};

/* ---- Strings and JSON ------------------------------------------------ */

/* printf into a new malloc'd string; NULL when memory runs out. */
static char *format_text(const char *format, ...)
{
    va_list args;
    va_list args_again;
    int length;
    char *text;

    va_start(args, format);
    va_copy(args_again, args);
    length = vsnprintf(NULL, 0, format, args);
    va_end(args);

    text = length < 0 ? NULL : malloc((size_t)length + 1);
    if (text != NULL)
        vsnprintf(text, (size_t)length + 1, format, args_again);
    va_end(args_again);
    return text;
}

/*
 * Appends `text` to `out` as a JSON string literal, quotes included.
 * Paths may hold quotes, backslashes or control characters, and each must
 * be escaped or the document would not parse, or would say something
 * else. Bytes of 0x80 and above pass through: jobdb takes UTF-8, and
 * refuses text that is not with JOBDB_ERR_INVALID_ARGUMENT.
 */
static void append_json_string(FILE *out, const char *text)
{
    const unsigned char *byte;

    fputc('"', out);
    for (byte = (const unsigned char *)text; *byte != '\0'; byte++) {
        switch (*byte) {
        case '"':  fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out);  break;
        case '\r': fputs("\\r", out);  break;
        case '\t': fputs("\\t", out);  break;
        default:
            if (*byte < 0x20)
                fprintf(out, "\\u%04x", (unsigned)*byte);
            else
                fputc(*byte, out);
        }
    }
    fputc('"', out);
}

/*
 * Closes a stream from open_memstream and returns the text it built, or
 * NULL when any write failed. stdio errors are sticky, so this one check
 * covers every write made to the stream.
 */
static char *finish_memstream(FILE *out, char **text)
{
    int write_failed = ferror(out);

    if (fclose(out) != 0 || write_failed) {
        free(*text);
        return NULL;
    }
    return *text;
}

/* Room for the time as format_now writes it. */
#define TIME_TEXT_SIZE sizeof "YYYY-MM-DDTHH:MM:SS.ffffffZ"

/* Writes the time now, RFC 3339 in UTC to the microsecond, as jobdb
 * stores it. Returns -1 when the clock cannot be read. */
static int format_now(char text[TIME_TEXT_SIZE])
{
    struct timespec now;
    struct tm now_utc;
    char seconds[sizeof "YYYY-MM-DDTHH:MM:SS"];

    if (clock_gettime(CLOCK_REALTIME, &now) != 0
        || gmtime_r(&now.tv_sec, &now_utc) == NULL
        || strftime(seconds, sizeof seconds, "%Y-%m-%dT%H:%M:%S",
                    &now_utc) == 0)
        return -1;
    snprintf(text, TIME_TEXT_SIZE, "%s.%06uZ", seconds,
             (unsigned)(now.tv_nsec / 1000) % 1000000u);
    return 0;
}

/* The update that records a job as started: its pid, command, start
 * time, where it runs and where it logs. NULL when memory runs out. */
static char *starting_update_json(const struct demo_job *job, pid_t pid,
                                  const struct places *places)
{
    char *json = NULL;
    size_t length = 0;
    char started_at[TIME_TEXT_SIZE];
    FILE *out;

    if (format_now(started_at) != 0)
        return NULL;
    out = open_memstream(&json, &length);
    if (out == NULL)
        return NULL;
    fputs("{\"self_id\":", out);
    append_json_string(out, job->id);
    fprintf(out, ",\"status\":\"starting\",\"last_pid\":%ld", (long)pid);
    fprintf(out, ",\"started_at\":\"%s\"", started_at);
    fputs(",\"command\":", out);
    append_json_string(out, job->command);
    fputs(",\"cwd\":", out);
    append_json_string(out, places->cwd);
    fputs(",\"logdir\":", out);
    append_json_string(out, places->logdir);
    fputs(",\"logfile\":", out);
    append_json_string(out, job->id);
    fputc('}', out);
    return finish_memstream(out, &json);
}

/* The update that records how a job ended: its final status, its exit
 * code when it exited (a job killed by a signal has none), and when. */
static char *ending_update_json(const char *id, const char *status,
                                int wait_status)
{
    char *json = NULL;
    size_t length = 0;
    char ended_at[TIME_TEXT_SIZE];
    FILE *out;

    if (format_now(ended_at) != 0)
        return NULL;
    out = open_memstream(&json, &length);
    if (out == NULL)
        return NULL;
    fputs("{\"self_id\":", out);
    append_json_string(out, id);
    fputs(",\"status\":", out);
    append_json_string(out, status);
    if (WIFEXITED(wait_status))
        fprintf(out, ",\"exit_code\":%d", WEXITSTATUS(wait_status));
    fprintf(out, ",\"ended_at\":\"%s\"}", ended_at);
    return finish_memstream(out, &json);
}

/* The update that sets a job's status alone. */
static char *status_update_json(const char *id, const char *status)
{
    char *json = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&json, &length);

    if (out == NULL)
        return NULL;
    fputs("{\"self_id\":", out);
    append_json_string(out, id);
    fputs(",\"status\":", out);
    append_json_string(out, status);
    fputc('}', out);
    return finish_memstream(out, &json);
}

/* The list_status filter for one status. */
static char *status_filter_json(const char *status)
{
    char *json = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&json, &length);

    if (out == NULL)
        return NULL;
    fputs("{\"status\":", out);
    append_json_string(out, status);
    fputc('}', out);
    return finish_memstream(out, &json);
}

/* ---- Reporting errors ------------------------------------------------ */

/* Reports a failed jobdb call and frees its error document. Returns -1 so
 * callers can `return report_jobdb_error(...)`. */
static int report_jobdb_error(const char *doing, int code, char *error_json)
{
    fprintf(stderr, "%s: %s failed: %s %s\n", PROGRAM, doing,
            jobdb_code_name(code),
            error_json != NULL ? error_json : "(no error document)");
    jobdb_string_free(error_json);
    return -1;
}

/* Reports a failed system call from errno. Returns -1. */
static int report_system_error(const char *doing, const char *path)
{
    fprintf(stderr, "%s: %s %s: %s\n", PROGRAM, doing, path,
            strerror(errno));
    return -1;
}

static int report_out_of_memory(void)
{
    fprintf(stderr, "%s: out of memory\n", PROGRAM);
    return -1;
}

/* ---- Folders --------------------------------------------------------- */

/* Creates a folder; one that already exists is fine. */
static int make_folder(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return report_system_error("cannot create the folder", path);
    return 0;
}

/* The current folder, in a malloc'd string; NULL with errno set on
 * failure. getcwd wants a buffer large enough, so grow one until it is. */
static char *current_folder(void)
{
    size_t size = 256;
    char *buffer = NULL;

    for (;;) {
        char *bigger = realloc(buffer, size);

        if (bigger == NULL) {
            free(buffer);
            return NULL;
        }
        buffer = bigger;
        if (getcwd(buffer, size) != NULL)
            return buffer;
        if (errno != ERANGE) {
            free(buffer);
            return NULL;
        }
        size *= 2;
    }
}

/* Creates the demo folders and finds the absolute cwd and log folder. */
static int prepare_places(const char *folder, struct places *places)
{
    places->logdir = NULL;
    places->cwd = current_folder();
    if (places->cwd == NULL)
        return report_system_error("cannot find the current folder", ".");

    if (folder[0] == '/')
        places->logdir = format_text("%s/logs", folder);
    else
        places->logdir = format_text("%s/%s/logs", places->cwd, folder);
    if (places->logdir == NULL)
        return report_out_of_memory();

    if (make_folder(folder) != 0 || make_folder(places->logdir) != 0)
        return -1;
    return 0;
}

static void free_places(struct places *places)
{
    free(places->cwd);
    free(places->logdir);
}

/* ---- Running a job --------------------------------------------------- */

/* Opens, truncated, the log file <logdir>/<id><suffix>: the names
 * jobdb_job_logs reads. Returns the descriptor, or -1. */
static int open_log_file(const char *logdir, const char *id,
                         const char *suffix)
{
    char *path = format_text("%s/%s%s", logdir, id, suffix);
    int fd;

    if (path == NULL)
        return report_out_of_memory();
    /* O_CLOEXEC: only the copies dup2'd onto stdout and stderr should
     * reach the command. */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        report_system_error("cannot open the log file", path);
    free(path);
    return fd;
}

/* In the child: sends stdout and stderr to the log files and runs the
 * command. Never returns. */
static void exec_job(const struct demo_job *job, int out_fd, int err_fd)
{
    if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
        _exit(EXIT_CANNOT_EXEC);
    execl("/bin/sh", "sh", "-c", job->command, (char *)NULL);
    /* stderr is the job's error log by now, which is where this belongs. */
    fprintf(stderr, "cannot run /bin/sh: %s\n", strerror(errno));
    _exit(EXIT_CANNOT_EXEC);
}

/* Starts a job's command with its output in its log files. Returns the
 * child's pid, or -1. */
static pid_t start_job(const struct demo_job *job, const char *logdir)
{
    int out_fd = open_log_file(logdir, job->id, "_out.txt");
    int err_fd = out_fd < 0 ? -1 : open_log_file(logdir, job->id,
                                                  "_errors.txt");
    pid_t pid = -1;

    if (err_fd >= 0) {
        pid = fork();
        if (pid == 0)
            exec_job(job, out_fd, err_fd);
        if (pid < 0)
            report_system_error("cannot fork for job", job->id);
    }
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    return pid;
}

/* Waits for a child to end, through interruptions by signals. */
static int wait_for_job(pid_t pid, const char *id, int *wait_status)
{
    while (waitpid(pid, wait_status, 0) < 0) {
        if (errno != EINTR)
            return report_system_error("cannot wait for job", id);
    }
    return 0;
}

/* "finished" for exit status 0; "failed" for any other, or a signal. */
static const char *final_status(int wait_status)
{
    if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)
        return "finished";
    return "failed";
}

static void print_how_job_ended(const char *id, pid_t pid, int wait_status)
{
    printf("%-7s pid %-7ld %-9s", id, (long)pid, final_status(wait_status));
    if (WIFEXITED(wait_status))
        printf("(exit status %d)\n", WEXITSTATUS(wait_status));
    else if (WIFSIGNALED(wait_status))
        printf("(killed by signal %d)\n", WTERMSIG(wait_status));
    else
        printf("(ended oddly: wait status %d)\n", wait_status);
}

/*
 * Sends the update that records job `id` as `status`. On success the
 * stored record goes to *out_record when that is not NULL, else it is
 * freed. `update_json` is consumed; NULL stands for the out-of-memory met
 * while building it.
 */
static int send_update(JobDb *db, char *update_json, const char *id,
                       const char *status, char **out_record)
{
    char *result = NULL;
    int code;

    if (update_json == NULL)
        return report_out_of_memory();
    code = jobdb_update_status(db, update_json, &result);
    free(update_json);
    if (code != JOBDB_OK) {
        fprintf(stderr, "%s: cannot record job %s as %s\n", PROGRAM, id,
                status);
        return report_jobdb_error("jobdb_update_status", code, result);
    }

    if (out_record != NULL)
        *out_record = result;
    else
        jobdb_string_free(result);
    return 0;
}

/* Records the job's pid, command and places, with the status
 * "starting". */
static int record_start(JobDb *db, const struct demo_job *job, pid_t pid,
                        const struct places *places)
{
    return send_update(db, starting_update_json(job, pid, places), job->id,
                       "starting", NULL);
}

/* Records a new status alone; jobdb keeps the job's other fields. */
static int record_status(JobDb *db, const char *id, const char *status,
                         char **out_record)
{
    return send_update(db, status_update_json(id, status), id, status,
                       out_record);
}

/* Records how the job ended; the stored record goes to *out_record. */
static int record_end(JobDb *db, const char *id, int wait_status,
                      char **out_record)
{
    const char *status = final_status(wait_status);

    return send_update(db, ending_update_json(id, status, wait_status), id,
                       status, out_record);
}

/* Runs one job to its end, recording each step of its life. */
static int run_job(JobDb *db, const struct demo_job *job,
                   const struct places *places)
{
    int recorded;
    int wait_status;
    char *record = NULL;
    pid_t pid = start_job(job, places->logdir);

    if (pid < 0)
        return -1;
    recorded = record_start(db, job, pid, places) == 0
               && record_status(db, job->id, "running", NULL) == 0;
    /* Wait even when recording failed, so no child is left behind. */
    if (wait_for_job(pid, job->id, &wait_status) != 0 || !recorded)
        return -1;

    if (record_end(db, job->id, wait_status, &record) != 0)
        return -1;
    print_how_job_ended(job->id, pid, wait_status);
    printf("        stored: %s\n", record);
    jobdb_string_free(record);
    return 0;
}

/* ---- Reading back ---------------------------------------------------- */

static int show_jobs_with_status(JobDb *db, const char *status)
{
    char *filter = status_filter_json(status);
    char *jobs = NULL;
    int code;

    if (filter == NULL)
        return report_out_of_memory();
    code = jobdb_list_status(db, filter, &jobs);
    free(filter);
    if (code != JOBDB_OK) {
        fprintf(stderr, "%s: cannot list the jobs with status %s\n", PROGRAM,
                status);
        return report_jobdb_error("jobdb_list_status", code, jobs);
    }

    printf("\n== Jobs with status \"%s\" ==\n%s\n", status, jobs);
    jobdb_string_free(jobs);
    return 0;
}

static int show_job_logs(JobDb *db, const char *id)
{
    char *logs = NULL;
    int code = jobdb_job_logs(db, id, &logs);

    if (code != JOBDB_OK) {
        fprintf(stderr, "%s: cannot read the logs of job %s\n", PROGRAM, id);
        return report_jobdb_error("jobdb_job_logs", code, logs);
    }

    printf("\n== Logs of job \"%s\" ==\n%s\n", id, logs);
    jobdb_string_free(logs);
    return 0;
}

/* ---- The demo -------------------------------------------------------- */

static int run_demo(JobDb *db, const struct places *places)
{
    size_t i;

    printf("\n== Running %u jobs ==\n", (unsigned)DEMO_JOB_COUNT);
    for (i = 0; i < DEMO_JOB_COUNT; i++) {
        if (run_job(db, &DEMO_JOBS[i], places) != 0)
            return -1;
    }

    if (show_jobs_with_status(db, "finished") != 0
        || show_jobs_with_status(db, "failed") != 0)
        return -1;

    for (i = 0; i < DEMO_JOB_COUNT; i++) {
        if (show_job_logs(db, DEMO_JOBS[i].id) != 0)
            return -1;
    }
    return 0;
}

static int open_database(const char *folder, JobDb **out_db)
{
    char *db_dir = format_text("%s/db", folder);
    char *error = NULL;
    int code;

    if (db_dir == NULL)
        return report_out_of_memory();
    code = jobdb_open(db_dir, out_db, &error);
    if (code != JOBDB_OK) {
        fprintf(stderr, "%s: cannot open the database in %s\n", PROGRAM,
                db_dir);
        free(db_dir);
        return report_jobdb_error("jobdb_open", code, error);
    }

    printf("jobdb %s: database in %s/jobs.db\n", jobdb_version(), db_dir);
    free(db_dir);
    return 0;
}

int main(int argc, char **argv)
{
    const char *folder = argc > 1 ? argv[1] : DEFAULT_FOLDER;
    struct places places;
    JobDb *db = NULL;
    int failed;

    if (argc > 2) {
        fprintf(stderr, "usage: %s [FOLDER]\n", PROGRAM);
        return EXIT_FAILURE;
    }
    if (prepare_places(folder, &places) != 0) {
        free_places(&places);
        return EXIT_FAILURE;
    }
    if (open_database(folder, &db) != 0) {
        free_places(&places);
        return EXIT_FAILURE;
    }
    printf("logs in %s\n", places.logdir);

    failed = run_demo(db, &places) != 0;
    jobdb_close(db);
    free_places(&places);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
