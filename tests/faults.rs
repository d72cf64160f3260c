//! Damaged files, read-only and full file systems: each gives a clear
//! error, never a crash, and leaves the data that was there intact.
//!
//! The read-only and full-disk cases mount small file systems, which needs
//! root. Where mounting is refused they print why and pass, unless
//! JOBDB_REQUIRE_MOUNT is set, as CI sets it.

mod common;

use std::ffi::CString;
use std::path::{Path, PathBuf};

use common::*;
use jobdb::ffi::*;
use serde_json::json;

fn fill(dir: &Path, jobs: usize) -> Db {
    let db = open(dir);
    for n in 0..jobs {
        let job = json!({"self_id": format!("job-{n}"), "status": "finished",
                         "cwd": "c".repeat(200)});
        update(&db, &job.to_string());
    }
    db
}

/// A file system mounted for one test, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// Mounts `source` of type `fstype` at `target`, or says why not.
    fn new(
        source: &str,
        target: &Path,
        fstype: &str,
        flags: libc::c_ulong,
        data: &str,
    ) -> Result<Mount, String> {
        let c_path = |p: &Path| CString::new(p.to_str().unwrap()).unwrap();
        let source = CString::new(source).unwrap();
        let fstype = CString::new(fstype).unwrap();
        let data = CString::new(data).unwrap();
        let rc = unsafe {
            libc::mount(
                source.as_ptr(),
                c_path(target).as_ptr(),
                fstype.as_ptr(),
                flags,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        Ok(Mount(target.to_path_buf()))
    }

    /// Makes a bind mount read-only; bind mounts take the flag only on a
    /// remount.
    fn remount_read_only(&self) -> Result<(), String> {
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        Mount::new("", &self.0, "", flags, "").map(|remounted| {
            // Dropping it would unmount the view this guard owns.
            std::mem::forget(remounted)
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let path = CString::new(self.0.to_str().unwrap()).unwrap();
        unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Skips a test that needs a mount, unless CI requires mounts to work.
fn mount_or_skip(result: Result<Mount, String>, what: &str) -> Option<Mount> {
    match result {
        Ok(mount) => Some(mount),
        Err(why) => {
            assert!(
                std::env::var_os("JOBDB_REQUIRE_MOUNT").is_none(),
                "JOBDB_REQUIRE_MOUNT is set but mounting {what} failed: {why}"
            );
            println!("skipped: cannot mount {what} here ({why})");
            None
        }
    }
}

#[test]
fn a_truncated_database_is_corrupt_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    drop(fill(tmp.path(), 300));
    let file = tmp.path().join("jobs.db");
    let length = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(length / 2)
        .unwrap();

    match try_open(tmp.path(), None) {
        Err((code, err)) => {
            assert_error((code, err), JOBDB_ERR_CORRUPT, "malformed");
        }
        Ok(db) => {
            assert_error(
                call_raw(jobdb_list_status, &db, None),
                JOBDB_ERR_CORRUPT,
                "malformed",
            );
        }
    }
}

#[test]
fn overwritten_pages_are_reported_and_never_crash() {
    let tmp = tempfile::tempdir().unwrap();
    drop(fill(tmp.path(), 300));
    let file = tmp.path().join("jobs.db");
    let mut bytes = std::fs::read(&file).unwrap();
    // Leave the header page alone and scribble over the rest.
    let mut rng = fastrand::Rng::with_seed(7);
    for byte in bytes.iter_mut().skip(4096).step_by(3) {
        *byte = rng.u8(..);
    }
    std::fs::write(&file, &bytes).unwrap();

    let outcome = try_open(tmp.path(), None);
    let (code, err) = match outcome {
        Err(failure) => failure,
        Ok(db) => call_raw(jobdb_list_status, &db, None),
    };
    assert!(
        code == JOBDB_ERR_CORRUPT || code == JOBDB_ERR_DATABASE,
        "{code}: {err}"
    );
    assert!(err["message"].as_str().unwrap().contains("SQLite"), "{err}");
}

#[test]
fn a_read_only_folder_is_an_io_error_and_its_data_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("data");
    drop(fill(&source, 5));
    let before = std::fs::read(source.join("jobs.db")).unwrap();

    let view = tmp.path().join("read-only-view");
    std::fs::create_dir(&view).unwrap();
    let Some(bind) = mount_or_skip(
        Mount::new(source.to_str().unwrap(), &view, "", libc::MS_BIND, ""),
        "a bind mount",
    ) else {
        return;
    };
    bind.remount_read_only().unwrap();

    let (code, err) = try_open(&view, None)
        .err()
        .expect("a read-only folder must not open");
    println!("read-only folder: {err}");
    assert_error(
        (code, err),
        JOBDB_ERR_IO,
        "must be able to read and write the folder",
    );
    let (code, err) = try_open(&view.join("new"), None).err().unwrap();
    assert_error(
        (code, err),
        JOBDB_ERR_IO,
        "cannot create the database folder",
    );

    assert_eq!(std::fs::read(source.join("jobs.db")).unwrap(), before);
    assert_eq!(list(&open(&source), None).as_object().unwrap().len(), 5);
}

#[test]
fn a_full_disk_is_an_io_error_and_earlier_jobs_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(_disk) = mount_or_skip(
        Mount::new("jobdb-test", tmp.path(), "tmpfs", 0, "size=512k"),
        "a 512 KiB tmpfs",
    ) else {
        return;
    };

    let db = open(tmp.path());
    let mut stored = 0;
    let error = loop {
        let job = json!({"self_id": format!("job-{stored}"), "status": "running",
                         "cwd": "x".repeat(8_000)});
        let (code, reply) = call(jobdb_update_status, &db, &job.to_string());
        if code != JOBDB_OK {
            break (code, reply);
        }
        stored += 1;
        assert!(stored < 10_000, "512 KiB never filled up");
    };
    assert_error(error, JOBDB_ERR_IO, "full");
    assert!(stored > 0);

    let jobs = list(&db, None);
    assert_eq!(jobs.as_object().unwrap().len(), stored);
    let conn = rusqlite::Connection::open(tmp.path().join("jobs.db")).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    println!("full disk: {stored} jobs stored before JOBDB_ERR_IO, all still readable");
}
