/*
 * nfs-rm: remove one file from an NFS export, in userspace (libnfs).
 *
 *   nfs-rm nfs://SERVER/export/path/file
 *
 * libnfs-utils has nfs-cp, nfs-cat and nfs-ls but nothing that removes; the harness's
 * client probe needs all four. Messages look like nfs-ls's: libnfs's own error text.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h> /* libnfs.h uses struct timeval */
#include <nfsc/libnfs.h>

int main(int argc, char **argv)
{
	struct nfs_context *nfs;
	struct nfs_url *u;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: nfs-rm nfs://SERVER/export/path/file\n");
		return 2;
	}
	nfs = nfs_init_context();
	if (!nfs) {
		fprintf(stderr, "nfs-rm: cannot create an NFS context\n");
		return 1;
	}
	u = nfs_parse_url_full(nfs, argv[1]);
	if (!u) {
		fprintf(stderr, "nfs-rm: bad URL %s: %s\n", argv[1], nfs_get_error(nfs));
		return 1;
	}
	rc = nfs_mount(nfs, u->server, u->path);
	if (rc < 0) {
		fprintf(stderr, "nfs-rm: failed to mount nfs share: %s\n", nfs_get_error(nfs));
		return 1;
	}
	rc = nfs_unlink(nfs, u->file);
	if (rc < 0) {
		fprintf(stderr, "nfs-rm: cannot remove %s: %s (%s)\n", u->file, strerror(-rc), nfs_get_error(nfs));
		return 1;
	}
	nfs_destroy_url(u);
	nfs_destroy_context(nfs);
	return 0;
}
