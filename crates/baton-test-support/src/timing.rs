//! Timing a benchmark loop two ways: wall time, and the time the calling thread was on a CPU.

use std::time::Instant;

/// Measures a loop run on the calling thread. [`LoopTimer::report`] prints `wall_ns cpu_ns`
/// when `BATON_BENCH_TIMES` is set, so a script can take both from one process.
///
/// The second figure is the thread's run time as the kernel accounts it
/// (`/proc/thread-self/schedstat`, nanoseconds): the wall time less what the thread spent
/// waiting while other processes of a shared machine ran. Cache lines they evict still cost
/// the thread, so it measures the same work with less of the noise. `None` where the file is
/// missing (not Linux, or scheduler statistics compiled out).
#[derive(Debug)]
pub struct LoopTimer {
    wall: Instant,
    cpu: Option<u64>,
}

impl LoopTimer {
    /// Starts timing.
    pub fn start() -> Self {
        LoopTimer {
            cpu: thread_cpu_ns(),
            wall: Instant::now(),
        }
    }

    /// The wall and on-CPU nanoseconds since [`start`](Self::start).
    pub fn elapsed(&self) -> (u128, Option<u64>) {
        let wall = self.wall.elapsed().as_nanos();
        let cpu = thread_cpu_ns()
            .zip(self.cpu)
            .map(|(now, then)| now.saturating_sub(then));
        (wall, cpu)
    }

    /// Prints `wall_ns cpu_ns` to standard output if `BATON_BENCH_TIMES` is set (`cpu_ns` is
    /// `-` when unknown).
    pub fn report(&self) {
        if std::env::var_os("BATON_BENCH_TIMES").is_none() {
            return;
        }
        let (wall, cpu) = self.elapsed();
        match cpu {
            Some(cpu) => println!("{wall} {cpu}"),
            None => println!("{wall} -"),
        }
    }
}

/// The calling thread's time on a CPU so far, in nanoseconds.
pub fn thread_cpu_ns() -> Option<u64> {
    // The kernel brings the running thread's figure up to date only at a scheduler event (a
    // tick, a switch): a yield is one, so the figure read next is exact to the yield instead
    // of a tick (1 to 4 ms) stale.
    std::thread::yield_now();
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_cpu_time_grows_with_work_and_stays_within_wall_time() {
        if thread_cpu_ns().is_none() {
            return; // not measurable here
        }
        let timer = LoopTimer::start();
        let mut x = 0u64;
        // Spin until the thread has had 20 ms of CPU (however busy the machine is).
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while timer.elapsed().1.unwrap() < 20_000_000 {
            assert!(Instant::now() < deadline, "no CPU time counted in 10 s");
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let (wall, cpu) = timer.elapsed();
        let cpu = u128::from(cpu.unwrap());
        assert!(cpu >= 20_000_000);
        // The yields and reads around the figures take a little CPU of their own.
        assert!(
            cpu <= wall + 1_000_000,
            "on-CPU {cpu} ns within wall {wall} ns"
        );
    }
}
