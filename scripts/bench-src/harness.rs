//! Times one command for scripts/bench: runs it N times with a file on stdin and stdout
//! discarded, and prints `median_us mean_us p90_us cpu_us_per_run max_rss_kib runs`.
//!
//! Wall time covers spawn, exec, the run and the wait, the same for every command measured,
//! so ratios between commands measured in the same run are meaningful. Max RSS comes from
//! getrusage(RUSAGE_CHILDREN), so one harness process measures one command.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::Instant;

#[repr(C)]
struct Timeval {
    sec: i64,
    usec: i64,
}

#[repr(C)]
struct Rusage {
    utime: Timeval,
    stime: Timeval,
    maxrss: i64,
    rest: [i64; 13],
}

unsafe extern "C" {
    fn getrusage(who: i32, usage: *mut Rusage) -> i32;
}

const RUSAGE_CHILDREN: i32 = -1;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: harness RUNS STDIN_FILE COMMAND [ARG...]");
        std::process::exit(2);
    }
    let runs: usize = args[0].parse().expect("RUNS is a number");
    let stdin_file = &args[1];
    let mut samples = Vec::with_capacity(runs);
    let mut failures = 0;
    for _ in 0..runs {
        let input = File::open(stdin_file).expect("stdin file");
        let start = Instant::now();
        let status = Command::new(&args[2])
            .args(&args[3..])
            .stdin(input)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("spawn");
        samples.push(start.elapsed().as_secs_f64() * 1e6);
        // `get` for a miss exits 1 by design; only a crash is a failure here.
        if status.code().is_none() {
            failures += 1;
        }
    }
    let mut usage = Rusage {
        utime: Timeval { sec: 0, usec: 0 },
        stime: Timeval { sec: 0, usec: 0 },
        maxrss: 0,
        rest: [0; 13],
    };
    // SAFETY: getrusage writes one struct rusage (18 longs on x86-64 Linux) into `usage`.
    unsafe { getrusage(RUSAGE_CHILDREN, &mut usage) };
    let cpu_us = (usage.utime.sec + usage.stime.sec) as f64 * 1e6 + (usage.utime.usec + usage.stime.usec) as f64;
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = samples[runs / 2];
    let mean = samples.iter().sum::<f64>() / runs as f64;
    let p90 = samples[runs * 9 / 10];
    println!("{median:.1} {mean:.1} {p90:.1} {:.1} {} {runs}", cpu_us / runs as f64, usage.maxrss);
    if failures > 0 {
        eprintln!("{failures} runs were killed by a signal");
        std::process::exit(1);
    }
}
