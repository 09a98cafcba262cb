/*
 * nfs-fuse: mount an NFS export with FUSE, for kernels without an NFS client.
 *
 *   nfs-fuse SERVER:/path MOUNTPOINT [-o OPTIONS] [-f]
 *
 * The NFS side is libnfs (userspace NFSv3 over TCP), the kernel side FUSE (libfuse3,
 * high-level path API). One libnfs context, one thread: simple and correct; large
 * sequential transfers stay fast because FUSE hands us up to 1 MiB per request and
 * libnfs turns that into rsize/wsize sized RPCs.
 *
 * Every request is sent with the caller's uid and gid (AUTH_SYS), so with
 * no_root_squash a file that root creates in a pod is owned by root on the export, a
 * file uid 1000 creates is owned by 1000, and the server does the permission checks.
 *
 * Options (-o, comma separated):
 *   vers=N, nfsvers=N   3 (default). 4 is accepted but libnfs 4.0's NFSv4 is not
 *                       functional, so NFSv3 is used and the log says so.
 *   port=N, mountport=N NFS and MOUNT ports (skip the portmapper)
 *   log=PATH            log file (default /var/log/nfs-fuse/<mountpoint>.log)
 *   ro, rw, [no]suid, [no]dev, [no]exec, [no]atime, sync, async, dirsync
 *                       passed to the FUSE mount
 * Other options (hard, timeo, nolock, proto=tcp, ...) are logged and ignored.
 *
 * Without -f it daemonises once the mount is in place, so `mount` returns with the file
 * system ready. `umount MOUNTPOINT` or `fusermount3 -u MOUNTPOINT` ends it.
 * Exit status 32 (mount's "mount failure") when the export cannot be mounted.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw-nfs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MOUNT_FAILURE 32
#define MAX_IO (1 << 20) /* what we ask FUSE for per read/write request */

static struct nfs_context *nfs;
static FILE *logf_;
static int cur_uid = -1, cur_gid = -1;

static void say(const char *fmt, ...)
{
	char stamp[32];
	time_t now = time(NULL);
	va_list ap;

	if (!logf_)
		return;
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", localtime(&now));
	fprintf(logf_, "%s nfs-fuse[%d]: ", stamp, (int)getpid());
	va_start(ap, fmt);
	vfprintf(logf_, fmt, ap);
	va_end(ap);
	fputc('\n', logf_);
	fflush(logf_);
}

/* Log failures other than the everyday ones (absent files, existing names, ...). */
static int ret(int rc, const char *op, const char *path)
{
	if (rc < 0 && rc != -ENOENT && rc != -EEXIST && rc != -ENOTEMPTY && rc != -EACCES &&
	    rc != -EPERM && rc != -ENOTDIR && rc != -EISDIR)
		say("%s %s: %s (%s)", op, path ? path : "", strerror(-rc), nfs_get_error(nfs));
	return rc;
}

/* Send the next RPCs with the credentials of the process that made the request. */
static void as_caller(void)
{
	struct fuse_context *c = fuse_get_context();

	if ((int)c->uid != cur_uid) {
		nfs_set_uid(nfs, c->uid);
		cur_uid = c->uid;
	}
	if ((int)c->gid != cur_gid) {
		nfs_set_gid(nfs, c->gid);
		cur_gid = c->gid;
	}
}

static void to_stat(const struct nfs_stat_64 *n, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_dev = n->nfs_dev;
	st->st_ino = n->nfs_ino;
	st->st_mode = n->nfs_mode;
	st->st_nlink = n->nfs_nlink;
	st->st_uid = n->nfs_uid;
	st->st_gid = n->nfs_gid;
	st->st_rdev = n->nfs_rdev;
	st->st_size = n->nfs_size;
	st->st_blksize = n->nfs_blksize;
	st->st_blocks = n->nfs_blocks;
	st->st_atim.tv_sec = n->nfs_atime;
	st->st_atim.tv_nsec = n->nfs_atime_nsec;
	st->st_mtim.tv_sec = n->nfs_mtime;
	st->st_mtim.tv_nsec = n->nfs_mtime_nsec;
	st->st_ctim.tv_sec = n->nfs_ctime;
	st->st_ctim.tv_nsec = n->nfs_ctime_nsec;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* Big requests: what makes sequential I/O fast over one connection. */
	conn->max_write = MAX_IO;
	conn->max_readahead = MAX_IO;
	/* Short caches: another client's changes show within a second. */
	cfg->attr_timeout = 1;
	cfg->entry_timeout = 1;
	cfg->negative_timeout = 0;
	cfg->use_ino = 1;
	cfg->auto_cache = 1; /* drop cached pages when size or mtime changed */
	say("fuse: max_write %u, max_readahead %u, capabilities 0x%x", conn->max_write,
	    conn->max_readahead, conn->capable);
	return NULL;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct nfs_stat_64 n;
	int rc;

	as_caller();
	rc = fi ? nfs_fstat64(nfs, (struct nfsfh *)(uintptr_t)fi->fh, &n) : nfs_lstat64(nfs, path, &n);
	if (rc < 0)
		return ret(rc, "getattr", path);
	to_stat(&n, st);
	return 0;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	int rc;

	as_caller();
	rc = nfs_readlink(nfs, path, buf, size);
	if (rc < 0)
		return ret(rc, "readlink", path);
	buf[size - 1] = '\0'; /* FUSE wants it terminated, truncated if need be */
	return 0;
}

static mode_t dirent_type(uint32_t type)
{
	switch (type) {
	case NF3DIR: return S_IFDIR;
	case NF3LNK: return S_IFLNK;
	case NF3BLK: return S_IFBLK;
	case NF3CHR: return S_IFCHR;
	case NF3SOCK: return S_IFSOCK;
	case NF3FIFO: return S_IFIFO;
	default: return S_IFREG;
	}
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct nfsdir *dir;
	struct nfsdirent *e;
	int rc;

	(void)off; (void)fi; (void)flags;
	as_caller();
	rc = nfs_opendir(nfs, path, &dir);
	if (rc < 0)
		return ret(rc, "readdir", path);
	/* Offset 0 for every entry: FUSE takes the whole listing in one call. */
	while ((e = nfs_readdir(nfs, dir)) != NULL) {
		struct stat st;

		memset(&st, 0, sizeof st);
		st.st_ino = e->inode;
		st.st_mode = dirent_type(e->type);
		if (fill(buf, e->name, &st, 0, 0))
			break;
	}
	nfs_closedir(nfs, dir);
	return 0;
}

static int op_mkdir(const char *path, mode_t mode)
{
	as_caller();
	return ret(nfs_mkdir2(nfs, path, mode), "mkdir", path);
}

static int op_rmdir(const char *path)
{
	as_caller();
	return ret(nfs_rmdir(nfs, path), "rmdir", path);
}

static int op_unlink(const char *path)
{
	as_caller();
	return ret(nfs_unlink(nfs, path), "unlink", path);
}

static int op_symlink(const char *target, const char *path)
{
	as_caller();
	return ret(nfs_symlink(nfs, target, path), "symlink", path);
}

static int op_link(const char *from, const char *to)
{
	as_caller();
	return ret(nfs_link(nfs, from, to), "link", to);
}

static int op_rename(const char *from, const char *to, unsigned int flags)
{
	if (flags) /* RENAME_NOREPLACE / RENAME_EXCHANGE: NFSv3 has no such rename */
		return -EINVAL;
	as_caller();
	return ret(nfs_rename(nfs, from, to), "rename", from);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	as_caller();
	if (fi)
		return ret(nfs_fchmod(nfs, (struct nfsfh *)(uintptr_t)fi->fh, mode), "chmod", path);
	return ret(nfs_chmod(nfs, path, mode), "chmod", path);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	(void)fi;
	as_caller();
	/* (uid_t)-1 means "leave as is", which NFS spells the same way */
	return ret(nfs_lchown(nfs, path, (int)uid, (int)gid), "chown", path);
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	as_caller();
	if (fi)
		return ret(nfs_ftruncate(nfs, (struct nfsfh *)(uintptr_t)fi->fh, size), "truncate", path);
	return ret(nfs_truncate(nfs, path, size), "truncate", path);
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct timeval t[2];
	struct nfs_stat_64 n;
	struct timeval now;
	int i, rc;

	(void)fi;
	as_caller();
	gettimeofday(&now, NULL);
	/* libnfs sets both times: fetch the ones the caller wants left alone (UTIME_OMIT). */
	if (tv[0].tv_nsec == UTIME_OMIT || tv[1].tv_nsec == UTIME_OMIT) {
		rc = nfs_lstat64(nfs, path, &n);
		if (rc < 0)
			return ret(rc, "utimens", path);
	}
	for (i = 0; i < 2; i++) {
		if (tv[i].tv_nsec == UTIME_NOW) {
			t[i] = now;
		} else if (tv[i].tv_nsec == UTIME_OMIT) {
			t[i].tv_sec = i ? n.nfs_mtime : n.nfs_atime;
			t[i].tv_usec = (i ? n.nfs_mtime_nsec : n.nfs_atime_nsec) / 1000;
		} else {
			t[i].tv_sec = tv[i].tv_sec;
			t[i].tv_usec = tv[i].tv_nsec / 1000;
		}
	}
	return ret(nfs_lutimes(nfs, path, t), "utimens", path);
}

static int open_flags(int flags)
{
	/* The kernel already handled O_CREAT/O_EXCL (create) and positions O_APPEND writes. */
	return flags & (O_ACCMODE | O_TRUNC);
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct nfsfh *fh;
	int rc;

	as_caller();
	rc = nfs_create(nfs, path, open_flags(fi->flags) | (fi->flags & O_EXCL), mode, &fh);
	if (rc < 0)
		return ret(rc, "create", path);
	fi->fh = (uintptr_t)fh;
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	struct nfsfh *fh;
	int rc;

	as_caller();
	rc = nfs_open(nfs, path, open_flags(fi->flags), &fh);
	if (rc < 0)
		return ret(rc, "open", path);
	fi->fh = (uintptr_t)fh;
	return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct nfsfh *fh = (struct nfsfh *)(uintptr_t)fi->fh;
	size_t done = 0;

	as_caller();
	/* libnfs may return less than asked (at most the server's rsize): loop until EOF. */
	while (done < size) {
		int n = nfs_pread(nfs, fh, off + done, size - done, buf + done);

		if (n < 0)
			return ret(n, "read", path);
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

static int op_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct nfsfh *fh = (struct nfsfh *)(uintptr_t)fi->fh;
	size_t done = 0;

	as_caller();
	while (done < size) {
		int n = nfs_pwrite(nfs, fh, off + done, size - done, buf + done);

		if (n < 0)
			return ret(n, "write", path);
		if (n == 0)
			return ret(-EIO, "write", path);
		done += n;
	}
	return done;
}

static int op_statfs(const char *path, struct statvfs *sv)
{
	struct nfs_statvfs_64 n;
	int rc;

	as_caller();
	rc = nfs_statvfs64(nfs, path, &n);
	if (rc < 0)
		return ret(rc, "statfs", path);
	memset(sv, 0, sizeof *sv);
	sv->f_bsize = n.f_bsize;
	sv->f_frsize = n.f_frsize;
	sv->f_blocks = n.f_blocks;
	sv->f_bfree = n.f_bfree;
	sv->f_bavail = n.f_bavail;
	sv->f_files = n.f_files;
	sv->f_ffree = n.f_ffree;
	sv->f_favail = n.f_favail;
	sv->f_fsid = n.f_fsid;
	sv->f_flag = n.f_flag;
	sv->f_namemax = n.f_namemax;
	return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	as_caller();
	return ret(nfs_fsync(nfs, (struct nfsfh *)(uintptr_t)fi->fh), "fsync", path);
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	as_caller();
	/* Every write reached the server before pwrite returned: other clients see it already. */
	return ret(nfs_close(nfs, (struct nfsfh *)(uintptr_t)fi->fh), "close", path);
}

static const struct fuse_operations ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.readdir = op_readdir,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.unlink = op_unlink,
	.symlink = op_symlink,
	.link = op_link,
	.rename = op_rename,
	.chmod = op_chmod,
	.chown = op_chown,
	.truncate = op_truncate,
	.utimens = op_utimens,
	.create = op_create,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.statfs = op_statfs,
	.fsync = op_fsync,
	.release = op_release,
};

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("nfs-fuse: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(MOUNT_FAILURE);
}

/* Mount options the FUSE mount understands as they are. */
static int generic_option(const char *o)
{
	static const char *const known[] = {"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec",
					     "exec", "noatime", "atime", "sync", "async", "dirsync", NULL};
	for (int i = 0; known[i]; i++)
		if (!strcmp(o, known[i]))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *spec = NULL, *mountpoint = NULL;
	char opts[4096] = "", fuse_opts[4096], url[4096], logpath[4096] = "", ignored[4096] = "";
	char *server, *export, *o, *save;
	int foreground = 0, version = 3, nfsport = 0, mountport = 0;
	struct nfs_url *u;
	struct fuse *fuse;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc) {
			snprintf(opts + strlen(opts), sizeof opts - strlen(opts), "%s%s", *opts ? "," : "", argv[++i]);
		} else if (!strcmp(argv[i], "-f")) {
			foreground = 1;
		} else if (argv[i][0] == '-') {
			continue; /* mount's -s -n -v: nothing to do */
		} else if (!spec) {
			spec = argv[i];
		} else if (!mountpoint) {
			mountpoint = argv[i];
		}
	}
	if (!spec || !mountpoint)
		die("usage: nfs-fuse SERVER:/path MOUNTPOINT [-o OPTIONS] [-f]");
	server = strdup(spec);
	export = strchr(server, ':');
	if (!export || export[1] != '/')
		die("%s is not SERVER:/path", spec);
	*export++ = '\0';

	snprintf(fuse_opts, sizeof fuse_opts, "allow_other,fsname=%s,subtype=nfs", spec);
	for (o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (!strncmp(o, "vers=", 5) || !strncmp(o, "nfsvers=", 8))
			version = atoi(strchr(o, '=') + 1);
		else if (!strncmp(o, "port=", 5))
			nfsport = atoi(o + 5);
		else if (!strncmp(o, "mountport=", 10))
			mountport = atoi(o + 10);
		else if (!strncmp(o, "log=", 4))
			snprintf(logpath, sizeof logpath, "%s", o + 4);
		else if (generic_option(o))
			snprintf(fuse_opts + strlen(fuse_opts), sizeof fuse_opts - strlen(fuse_opts), ",%s", o);
		else
			snprintf(ignored + strlen(ignored), sizeof ignored - strlen(ignored), " %s", o);
	}

	if (!*logpath) {
		char name[1024];
		int j = 0;

		/* /var/log/nfs-fuse/<mountpoint with / as _>.log */
		for (const char *p = mountpoint; *p && j < (int)sizeof name - 1; p++)
			name[j++] = (*p == '/') ? '_' : *p;
		name[j] = '\0';
		mkdir("/var/log/nfs-fuse", 0755);
		snprintf(logpath, sizeof logpath, "/var/log/nfs-fuse/%s.log", name);
	}
	logf_ = fopen(logpath, "a");
	if (!logf_)
		die("cannot open log %s: %s", logpath, strerror(errno));

	if (version != 3)
		say("NFSv%d asked for: libnfs 4.0 speaks NFSv4 only partially, using NFSv3", version);
	if (*ignored)
		say("ignored options:%s", ignored);

	nfs = nfs_init_context();
	if (!nfs)
		die("cannot create an NFS context");
	/* The export root is looked up through the URL parser: it applies the port settings. */
	snprintf(url, sizeof url, "nfs://%s%s?version=3", server, export);
	if (nfsport)
		snprintf(url + strlen(url), sizeof url - strlen(url), "&nfsport=%d", nfsport);
	if (mountport)
		snprintf(url + strlen(url), sizeof url - strlen(url), "&mountport=%d", mountport);
	u = nfs_parse_url_dir(nfs, url);
	if (!u)
		die("bad NFS address %s: %s", spec, nfs_get_error(nfs));
	nfs_set_dircache(nfs, 0); /* other clients change directories too */
	nfs_set_autoreconnect(nfs, -1); /* like a hard mount: retry, never fail a request */
	nfs_umask(nfs, 0); /* the kernel has applied the caller's umask already */
	rc = nfs_mount(nfs, u->server, u->path);
	if (rc < 0) {
		say("cannot mount %s: %s", spec, nfs_get_error(nfs));
		die("cannot mount %s: %s", spec, nfs_get_error(nfs));
	}
	nfs_destroy_url(u);

	{
		char *fargv[] = {argv[0], "-o", fuse_opts, NULL};
		struct fuse_args args = FUSE_ARGS_INIT(3, fargv);

		fuse = fuse_new(&args, &ops, sizeof ops, NULL);
		if (!fuse)
			die("fuse_new failed (options %s)", fuse_opts);
	}
	if (fuse_mount(fuse, mountpoint) != 0)
		die("cannot mount FUSE on %s (is /dev/fuse there, are we root?)", mountpoint);
	say("mounted %s on %s (NFSv3, rsize %llu, wsize %llu, fuse options %s)", spec, mountpoint,
	    (unsigned long long)nfs_get_readmax(nfs), (unsigned long long)nfs_get_writemax(nfs), fuse_opts);
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		die("cannot install signal handlers");
	/* Returns in the parent only once the child runs: then `mount` may return. */
	if (fuse_daemonize(foreground) != 0)
		die("cannot daemonise");
	if (!foreground) /* libfuse's own messages go to the log, too */
		dup2(fileno(logf_), 2);

	rc = fuse_loop(fuse);
	say("unmounting %s (loop ended with %d)", mountpoint, rc);
	fuse_remove_signal_handlers(fuse_get_session(fuse));
	fuse_unmount(fuse);
	fuse_destroy(fuse);
	nfs_destroy_context(nfs);
	return rc ? 1 : 0;
}
