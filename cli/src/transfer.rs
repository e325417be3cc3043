//! upload, download, cat: the transfer engines with progress bars on a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Result, bail};
use clap::Args;
use cyxcloud_client::download::WriteSink;
use cyxcloud_client::upload::{Source, UploadOptions};
use cyxcloud_client::{ClientError, Progress, ProgressFn, parse_uri};
use indicatif::{ProgressBar, ProgressStyle};

use crate::commands::{Ctx, parse_profile};

#[derive(Args)]
pub struct UploadArgs {
    /// Files or directories to upload, or `-` for stdin
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Destination bucket (default: the profile's default bucket)
    #[arg(short, long)]
    pub bucket: Option<String>,
    /// Object key (one file or stdin), or the key prefix for a directory
    #[arg(short, long)]
    pub key: Option<String>,
    /// Erasure profile for these objects (default: the bucket's)
    #[arg(long, conflicts_with = "ec")]
    pub profile: Option<String>,
    /// Custom erasure coding data+parity
    #[arg(long)]
    pub ec: Option<String>,
    /// Content-Type (default: from the file extension)
    #[arg(long)]
    pub content_type: Option<String>,
    /// Store without trying compression
    #[arg(long)]
    pub no_compress: bool,
}

#[derive(Args)]
pub struct DownloadArgs {
    /// cyx://bucket/key, or a bucket name with -k
    pub source: String,
    #[arg(short, long)]
    pub key: Option<String>,
    /// Output file or directory, or `-` for stdout (default: the key's file name here)
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Only bytes START-END (inclusive, as in HTTP Range) or START- ; fetches only the
    /// chunks the range touches
    #[arg(long, value_name = "START-END")]
    pub range: Option<String>,
}

/// `a-b` (inclusive) or `a-` into a half-open range; `None` end means to the object's end.
fn parse_range(r: &str) -> Result<(u64, Option<u64>)> {
    let bad =
        || ClientError::InvalidArgument(format!("--range {r:?}: expected START-END or START-"));
    let (a, b) = r.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b = match b.trim() {
        "" => None,
        b => {
            let b: u64 = b.parse().map_err(|_| bad())?;
            if b < a {
                return Err(bad().into());
            }
            Some(b.saturating_add(1))
        }
    };
    Ok((a, b))
}

/// A progress bar on stderr when it is a terminal and --quiet is off.
fn bar(ctx: &Ctx, label: &str) -> (Option<ProgressFn>, Option<ProgressBar>) {
    if ctx.global.quiet || !std::io::stderr().is_terminal() {
        return (None, None);
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {percent}% {bytes}/{total_bytes} ({bytes_per_sec}, ETA {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(label.to_string());
    let p = pb.clone();
    let f: ProgressFn = Arc::new(move |e| match e {
        Progress::Started { total, done } => {
            if let Some(t) = total {
                p.set_length(t);
            }
            p.set_position(done);
        }
        Progress::ChunkDone { bytes, .. } => p.inc(bytes),
        Progress::Finished { .. } => p.finish(),
        _ => {}
    });
    (Some(f), Some(pb))
}

/// Keys for a directory tree: relative paths with `/`, under `prefix`.
fn walk(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<(PathBuf, String)>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| ClientError::io(format!("reading {}", dir.display()), e))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| ClientError::io(format!("reading {}", dir.display()), e))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let ft = e
            .file_type()
            .map_err(|err| ClientError::io(format!("reading {}", p.display()), err))?;
        if ft.is_dir() {
            walk(root, &p, prefix, out)?;
        } else if ft.is_file() || (ft.is_symlink() && p.is_file()) {
            let rel = p.strip_prefix(root).unwrap_or(&p);
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push((p.clone(), format!("{prefix}{}", rel.join("/"))));
        }
    }
    Ok(())
}

pub async fn upload(ctx: &Ctx, a: UploadArgs) -> Result<()> {
    let bucket = ctx.bucket(a.bucket.as_deref())?;
    let erasure = parse_profile(a.profile.as_deref(), a.ec.as_deref())?;
    // (source, key)
    let mut jobs: Vec<(Option<PathBuf>, String)> = Vec::new();
    for p in &a.paths {
        if p.as_os_str() == "-" {
            let key = a
                .key
                .clone()
                .ok_or_else(|| ClientError::InvalidArgument("stdin needs -k KEY".into()))?;
            jobs.push((None, key));
        } else if p.is_dir() {
            let prefix = match &a.key {
                Some(k) if !k.is_empty() && !k.ends_with('/') => format!("{k}/"),
                Some(k) => k.clone(),
                None => format!(
                    "{}/",
                    std::fs::canonicalize(p)
                        .ok()
                        .and_then(|c| c.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .unwrap_or_default()
                )
                .trim_start_matches('/')
                .to_string(),
            };
            let mut files = Vec::new();
            walk(p, p, &prefix, &mut files)?;
            jobs.extend(files.into_iter().map(|(f, k)| (Some(f), k)));
        } else {
            let key = match &a.key {
                Some(k) if a.paths.len() == 1 => k.clone(),
                Some(k) => format!("{}/{}", k.trim_end_matches('/'), file_name(p)?),
                None => file_name(p)?,
            };
            jobs.push((Some(p.clone()), key));
        }
    }
    if jobs.is_empty() {
        bail!(ClientError::InvalidArgument("nothing to upload".into()));
    }
    let client = ctx.client().await?;
    for (src, key) in jobs {
        let mut opts = UploadOptions::new(&bucket, &key);
        opts.erasure = erasure;
        opts.content_type = a.content_type.clone();
        opts.compress = !a.no_compress;
        let label = match &src {
            Some(p) => {
                let n = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
                format!("Uploading: {} ({})", p.display(), crate::commands::human(n))
            }
            None => "Uploading: stdin".to_string(),
        };
        let (bar_fn, pb) = bar(ctx, &label);
        // Count what an earlier run had stored and what this one sends.
        let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let c2 = counts.clone();
        let progress: ProgressFn = Arc::new(move |e: Progress| {
            match &e {
                Progress::Started { done, .. } => c2.0.store(*done, Ordering::Relaxed),
                Progress::ChunkDone { bytes, .. } => {
                    c2.1.fetch_add(*bytes, Ordering::Relaxed);
                }
                _ => {}
            }
            if let Some(f) = &bar_fn {
                f(e)
            }
        });
        let progress = Some(progress);
        let source = match src {
            Some(p) => Source::File(p),
            None => Source::Reader(Box::new(std::io::stdin())),
        };
        let r = client.upload(source, &opts, progress).await;
        if let Some(pb) = pb {
            pb.finish_and_clear();
        }
        let info = r?;
        if ctx.global.json {
            println!(
                "{}",
                serde_json::json!({
                    "uri": format!("cyx://{bucket}/{key}"), "size": info.size, "etag": info.etag,
                    "resumed_bytes": counts.0.load(Ordering::Relaxed),
                    "sent_bytes": counts.1.load(Ordering::Relaxed),
                })
            );
        } else {
            println!("Uploaded: cyx://{bucket}/{key}");
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> Result<String> {
    Ok(p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| ClientError::InvalidArgument(format!("{} has no file name", p.display())))?)
}

pub async fn download(ctx: &Ctx, a: DownloadArgs) -> Result<()> {
    let (bucket, key) = match &a.key {
        Some(k) => (
            a.source
                .trim_start_matches("cyx://")
                .trim_end_matches('/')
                .to_string(),
            k.clone(),
        ),
        None => parse_uri(&a.source)?,
    };
    if key.is_empty() {
        bail!(ClientError::InvalidArgument(
            "no key: give cyx://bucket/key or -k KEY".into()
        ));
    }
    let range = a.range.as_deref().map(parse_range).transpose()?;
    let client = ctx.client().await?;
    // Open-ended: the engines clamp the end to the object's size.
    let range = range.map(|(start, end)| (start, end.unwrap_or(u64::MAX)));
    let base = key.rsplit('/').next().unwrap_or(&key).to_string();
    let dest = match a.output {
        Some(o) if o.as_os_str() == "-" => return to_stdout(&client, &bucket, &key, range).await,
        Some(o) if o.is_dir() || o.as_os_str().to_string_lossy().ends_with('/') => {
            std::fs::create_dir_all(&o)
                .map_err(|e| ClientError::io(format!("creating {}", o.display()), e))?;
            o.join(&base)
        }
        Some(o) => o,
        None => PathBuf::from(&base),
    };
    let (progress, pb) = bar(ctx, &format!("Downloading: {key}"));
    let r = client
        .download_file(&bucket, &key, range, &dest, progress)
        .await;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    r?;
    ctx.info(format!("Saved to: {}", dest.display()));
    Ok(())
}

pub async fn cat(ctx: &Ctx, uri: &str) -> Result<()> {
    let (bucket, key) = parse_uri(uri)?;
    to_stdout(&ctx.client().await?, &bucket, &key, None).await
}

async fn to_stdout(
    client: &cyxcloud_client::Client,
    bucket: &str,
    key: &str,
    range: Option<(u64, u64)>,
) -> Result<()> {
    let mut sink = WriteSink(std::io::BufWriter::new(std::io::stdout().lock()));
    client.download(bucket, key, range, &mut sink, None).await?;
    Ok(())
}
