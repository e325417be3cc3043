//! Process lifecycle shared by the servers (node and gateway).

/// Resolves on SIGTERM or SIGINT (Ctrl-C elsewhere). The handlers are registered when this
/// is called, not when it is first polled: created before a server announces it is ready, a
/// signal sent right after that cannot kill the process by the default action instead of
/// stopping it gracefully.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (term, int) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            match (term, int) {
                (Ok(mut t), Ok(mut i)) => {
                    tokio::select! {
                        _ = t.recv() => {}
                        _ = i.recv() => {}
                    }
                }
                _ => std::future::pending().await,
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
