"""Where the data comes from: ``data_dir=``, ``--data-dir``, ``MOLSTRATA_DATA_DIR``, or a download.

Resolution order for the TDC ADMET group (first hit wins):

1. ``data_dir=`` (the CLI's ``--data-dir``), then ``MOLSTRATA_DATA_DIR``: a folder holding
   ``admet_group/<task>/{train_val,test}.csv`` (TDC's layout; the ``admet_group`` folder
   itself is accepted too). A folder that is named but lacks the files is an error, never
   a silent download.
2. ``<user data dir>/admet_group`` from an earlier download (platformdirs, see
   :func:`molstrata.core.paths.user_data_dir`).
3. Download of TDC's official archive (Harvard Dataverse datafile 4426004) with ``pooch``,
   md5-checked (``e3e4dda2f7f62268448fc813ceefccd5``), then unzipped into the user data dir.
   ``MOLSTRATA_TDC_URL`` overrides the URL (a mirror, or a loopback server in tests);
   ``MOLSTRATA_DOWNLOAD_TIMEOUT`` the connect timeout in seconds (default 5).

Every task file read is compared with the sha256 of the official archive's copy; a file
that differs is used, with a warning that its scores are not comparable with the TDC
leaderboard.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
import zipfile
from functools import lru_cache
from pathlib import Path

from molstrata.core.errors import ChecksumError, ConfigError, DataNotFoundError
from molstrata.core.paths import DATA_ENV, env_data_dir, user_data_dir

TDC_URL = "https://dataverse.harvard.edu/api/access/datafile/4426004"
TDC_MD5 = "e3e4dda2f7f62268448fc813ceefccd5"
URL_ENV = "MOLSTRATA_TDC_URL"
TIMEOUT_ENV = "MOLSTRATA_DOWNLOAD_TIMEOUT"

#: sha256 of every file in the official archive (md5 e3e4dda2...), keyed by ``task/file``.
OFFICIAL_SHA256: dict[str, str] = {
    "ames/train_val.csv": "8b3add847978ec60685541e07696c837f116b7cb245d44f86eb8f4f69da8e44d",
    "ames/test.csv": "d87e29ad1f188d6ee4fcdd5c3c3aa4ba15e4fec657553353d0d951ad8df02d3f",
    "bbb_martins/train_val.csv": "5035139072311f4cb0a1a54cffe11bc727004886ace4629b98f6db20c431e4af",
    "bbb_martins/test.csv": "82d4fa96f671a8382e9d8e6de3dde8385b9f337854c83e6fde2e69a7be93754f",
    "bioavailability_ma/train_val.csv": "f2b9eb265aed8261cb4033668b20d78e082dd9f43ccdbd1b3781d05596b5b137",
    "bioavailability_ma/test.csv": "329a4a20a82975658d15bc488ad4f68d58bc68c511273360d9fdcaef61a9f281",
    "caco2_wang/train_val.csv": "e0965b4a0617a3aa2978ef28794e3467d55655090f282a120355ea575ebed6b2",
    "caco2_wang/test.csv": "5380c15b0dd9c11e22d3e3843083362d535dae36062dfee08056d3af4cb444df",
    "clearance_hepatocyte_az/train_val.csv": "dcb4e04024bee243ff4c55c182bd450b89e43a605f9947d57417a2fcd11a2687",
    "clearance_hepatocyte_az/test.csv": "23e061c3fdc2627707c099be6a3082a55fd928a1f19e555f6f4f4b734ed8d314",
    "clearance_microsome_az/train_val.csv": "736ffa13d70b38d68ab0b956200292084dcbd5e970e8d72a62eb715d8763b660",
    "clearance_microsome_az/test.csv": "832c4479f007ea7b11a41301d20e55e226aa5f52ebbaa1ca7783854f64e4fdf5",
    "cyp2c9_substrate_carbonmangels/train_val.csv": "64bfc7ba07896486b9cf4253a9e31e6551586a1d868a4fef14b4981137b19371",
    "cyp2c9_substrate_carbonmangels/test.csv": "2b4c4fc9babd751ff0cfdc7f04e671aa8d1d2ced0051825380711c1cbe2a8d2a",
    "cyp2c9_veith/train_val.csv": "f7d1cb85adac9b1c4bca33936c7ecde2d0e3c127258846786ca7bf6418ddb1a4",
    "cyp2c9_veith/test.csv": "e62409b62d6adc69c25eb47d83bfb88379878d70656e0191a8f555ef733e2519",
    "cyp2d6_substrate_carbonmangels/train_val.csv": "4257760cccc9f903d230708192afb399e56b78d8f1c6f2f4569b65b489bcd693",
    "cyp2d6_substrate_carbonmangels/test.csv": "18b78567d7c0a0add39dae9e329c71c338db7666be42d3e81729ed3edb74d0da",
    "cyp2d6_veith/train_val.csv": "e9e65ba87e09d23aa49fa068bdbb6a16dc686d7916d15f1028569bf6fc3bc5c8",
    "cyp2d6_veith/test.csv": "8e8f9ec13df932e38b6467051a1ac496d498bd87ef9d893fde3490757e676c16",
    "cyp3a4_substrate_carbonmangels/train_val.csv": "f34d74d38b59100f8218645120ce028a91383bfa318cbb951a33418ba42eddc3",
    "cyp3a4_substrate_carbonmangels/test.csv": "6a1a41df7eacb6f7a98a9cf81d9117ec0d74b1f4ca5d3930579dcc8b861772f7",
    "cyp3a4_veith/train_val.csv": "df6944a7a01cf8ba0a56b87214ea9e25ac40a8f8a64d92da454f12fbc50d179f",
    "cyp3a4_veith/test.csv": "5b7d31656dd28ad48e2a1c9ee9b59cce39b6dfa268f5f285f939629a339ec9bc",
    "dili/train_val.csv": "0a5c221e3a62b204a990586be505ae1373884b7ef10e983bea1821901755c908",
    "dili/test.csv": "eb4cacff67a3f25d1d5e6a4c15ada68239af630ec19979097c4c832b185478e8",
    "half_life_obach/train_val.csv": "31ad09226c2d3a86ac5dd312f5f93aa1ba5153c45d0aaf90c8e2c69ba6d46d37",
    "half_life_obach/test.csv": "ec68952751525bee83c40ad23be420da183b787b04319cbbf9877d3a2eb02316",
    "herg/train_val.csv": "22fc4c4b6079f72b392cf2ae675d99c6927a6351377ee50c4f9f98c586a3f206",
    "herg/test.csv": "14277bd932dce885e2f7a8d706effb455816f983e05b230f4f1c9590eb6c4248",
    "hia_hou/train_val.csv": "87f35dc1767174efa245ee71644229b5073a8490988527a3fe6d2f1e7522c7db",
    "hia_hou/test.csv": "da702497c3c0a50dbdff77471517562a8813859f53f069ac5bb43126aa534351",
    "ld50_zhu/train_val.csv": "0624ac7c370393c8a2dc0398acc83aeb624e2589bbde74cf58a2b3ebb3bb3290",
    "ld50_zhu/test.csv": "8a3fcc8311d78acd05594ffff6abcb610610f6ed15a60f8eb01dc3677f9b4fbe",
    "lipophilicity_astrazeneca/train_val.csv": "a54636f85cf31eb4c914ea15e2c3a15364b0b8b51986262ea229203637e08f31",
    "lipophilicity_astrazeneca/test.csv": "69f3870c9b6f2cec79a992a31d59d2e940962f7e2c4b27dabaed1fe1e767e2d8",
    "pgp_broccatelli/train_val.csv": "4a9183cf40c01881c6cfdeee7b68fed6dbe31348081099a323b9b76351a1dae0",
    "pgp_broccatelli/test.csv": "959e448d2b8927d65ede864838c2eee5b2075d4c01ca544aeec4c90d663b4ccb",
    "ppbr_az/train_val.csv": "edc4416f46b0e463b3c5f26b10e0ac2ba013db53813ac9546c4780bbb5f81720",
    "ppbr_az/test.csv": "c3a0acbca0053a0d7aa8b6ed01e9873abeddde88fa1340c1edfb63d9cf728f42",
    "solubility_aqsoldb/train_val.csv": "adbee092423fe0cb0f4219520f2f93730b6ba5bb1d0ef8dd7764c2d32b3393b9",
    "solubility_aqsoldb/test.csv": "18cd02deec4e06c611a6e7e38fb44a1731bc0c0a96bc5d4ded098ff29da645fe",
    "vdss_lombardo/train_val.csv": "943bef20ab9ce2387399f947850e2743b09eccf9cc03bdc1b48cf336a8b1631e",
    "vdss_lombardo/test.csv": "de60a8bf6752ec6795f836708da1eeb6e9b5b97cdde0776d8c7f279cb5020740",
}

_HOW_TO = (
    f"Set {DATA_ENV} (or pass --data-dir / data_dir=) to a folder holding "
    "admet_group/<task>/train_val.csv and test.csv"
)


def admet_dir(data_dir: str | os.PathLike | None = None, *, download: bool = True) -> Path:
    """The folder holding ``<task>/{train_val,test}.csv`` of the TDC ADMET group.

    Parameters
    ----------
    data_dir : path, optional
        Overrides ``MOLSTRATA_DATA_DIR``.
    download : bool, default=True
        Download the official archive when no local copy exists.

    Raises
    ------
    DataNotFoundError
        The named folder lacks the files, or there is no copy and the download failed
        (the message names ``MOLSTRATA_DATA_DIR`` and ``--data-dir``).
    ChecksumError
        The downloaded archive does not have TDC's md5.
    """
    named, origin = _named_dir(data_dir)
    if named is not None:
        for candidate in (named / "admet_group", named):
            if _looks_like_admet(candidate):
                return candidate
        raise DataNotFoundError(
            f"no TDC ADMET data in {named} (from {origin}): expected "
            f"{named}/admet_group/<task>/train_val.csv and test.csv. Fix {origin}, or leave "
            f"both --data-dir and {DATA_ENV} unset to download TDC's archive."
        )
    cached = user_data_dir() / "admet_group"
    if _looks_like_admet(cached):
        return cached
    if not download:
        raise DataNotFoundError(f"no TDC ADMET data found. {_HOW_TO}.")
    return download_admet(user_data_dir())


def data_root(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The folder named by ``data_dir`` or ``MOLSTRATA_DATA_DIR`` (``None`` when neither)."""
    return _named_dir(data_dir)[0]


def _named_dir(data_dir: str | os.PathLike | None) -> tuple[Path | None, str]:
    if data_dir is not None and str(data_dir).strip():
        return Path(data_dir).expanduser(), "data_dir / --data-dir"
    env = env_data_dir()
    return (env, DATA_ENV) if env is not None else (None, "")


def _looks_like_admet(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*/train_val.csv"))


def download_admet(dest: str | os.PathLike, *, url: str | None = None) -> Path:
    """Download TDC's ADMET group archive into ``dest``, check its md5 and unzip it.

    Parameters
    ----------
    dest : path
        Folder that receives ``admet_group.zip`` and ``admet_group/``.
    url : str, optional
        Defaults to ``MOLSTRATA_TDC_URL`` or TDC's Dataverse URL.

    Returns
    -------
    Path
        ``dest / "admet_group"``.

    Raises
    ------
    ChecksumError
        The file served does not have md5 ``e3e4dda2f7f62268448fc813ceefccd5``; nothing is
        kept.
    DataNotFoundError
        The server could not be reached or answered with an error.
    """
    import pooch
    import requests

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    url = url or os.environ.get(URL_ENV, "").strip() or TDC_URL
    try:
        timeout = float(os.environ.get(TIMEOUT_ENV, "").strip() or 5)
    except ValueError:
        raise ConfigError(
            f"{TIMEOUT_ENV}={os.environ[TIMEOUT_ENV]!r} is not a number of seconds"
        ) from None
    # progressbar: pooch draws it with tqdm, a declared dependency
    downloader = pooch.HTTPDownloader(progressbar=True, timeout=(timeout, 60.0))
    try:
        archive = pooch.retrieve(
            url,
            known_hash=f"md5:{TDC_MD5}",
            fname="admet_group.zip",
            path=dest,
            downloader=downloader,
        )
    except ValueError as exc:  # pooch: hash mismatch (the file is not kept)
        if "hash" not in str(exc).lower():
            raise
        raise ChecksumError(
            f"the archive downloaded from {url} is not TDC's ADMET group archive "
            f"(md5 should be {TDC_MD5}); refused. {_HOW_TO}."
        ) from exc
    except (requests.RequestException, OSError) as exc:
        raise DataNotFoundError(
            f"no TDC ADMET data locally, and downloading {url} failed "
            f"({type(exc).__name__}). {_HOW_TO}, or set {URL_ENV} to a reachable mirror."
        ) from exc
    return _extract(Path(archive), dest)


def _extract(archive: Path, dest: Path) -> Path:
    target = dest / "admet_group"
    tmp = Path(tempfile.mkdtemp(prefix=".admet_group-", dir=dest))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)  # zipfile drops absolute paths and '..' components
        inner = tmp / "admet_group"
        if not _looks_like_admet(inner):
            raise ChecksumError(f"{archive} does not hold admet_group/<task>/train_val.csv")
        if target.exists():
            shutil.rmtree(target)
        os.replace(inner, target)  # atomic within one file system
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def check_official(path: Path, task: str, file: str) -> bool:
    """Warn (once per file version) when a task file differs from the official archive's.

    Returns
    -------
    bool
        True when the sha256 matches TDC's archive.
    """
    stat = path.stat()
    ok = _sha256_matches(str(path), stat.st_mtime_ns, stat.st_size, task, file)
    if not ok:
        warnings.warn(
            f"{path} differs from the file in TDC's official archive (sha256); splits and "
            "scores from it are not comparable with the TDC leaderboard.",
            UserWarning,
            stacklevel=3,
        )
    return ok


@lru_cache(maxsize=256)
def _sha256_matches(path: str, mtime_ns: int, size: int, task: str, file: str) -> bool:
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return OFFICIAL_SHA256.get(f"{task}/{file}") == digest
