"""Which package files the study data sets are made of, and how to get at them.

Photos are chosen by explicit lists, not by globbing whole packages: each file was looked at, and
the lists keep out logos, drawings, charts, calibration boards, paintings and near-duplicate
frames. Pip packages are found without importing them. Debian packages are used in place when
installed; otherwise they are fetched with ``apt-get download`` (no root needed) at the pinned
version and only the folders needed are unpacked into a temporary directory (``fetch.py``).
"""
from typing import Dict, Tuple

from decon_d2.data.study_layout import CLASS_NAMES

PIP_HINT = "pip install --no-deps -r requirements-study.txt"
# import name -> pip distribution name, for error messages.
PIP_DISTS = {"skimage": "scikit-image", "mvtbdata": "mvtb-data", "foolbox": "foolbox",
             "imgviz": "imgviz", "matplotlib": "matplotlib"}

# Debian 12 (bookworm) versions the lists below were made from (see requirements-study.txt).
DEB_VERSIONS = {
    "gcompris-qt-data": "3.1-2",
    "opencv-doc": "4.6.0+dfsg-12",
    "mate-backgrounds": "1.26.0-1",
    "lomiri-wallpapers-16.04": "20.04.0-2",
    "lomiri-wallpapers-20.04": "20.04.0-2",
    "plasma-workspace-wallpapers": "4:5.27.5-2",
    "palapeli-data": "4:22.12.3-1",
    "labelme-examples": "5.1.1-1",
    "tuxpaint-data": "1:0.9.28-sdl2-1",
    "tuxpaint-stamps-default": "2022.06.04-1",
}
# Licences, recorded in each data set's MANIFEST (from the packages' metadata/copyright files).
LICENSES = {
    "skimage": "BSD-3-Clause (photos: public domain / CC0, see skimage/data/README.txt)",
    "foolbox": "MIT (ImageNet validation photos: ImageNet terms, research use)",
    "imgviz": "MIT (VOC / ARC2017 / Middlebury sample photos)",
    "matplotlib": "matplotlib licence (PSF-like)",
    "mvtbdata": "MIT",
    "gcompris-qt-data": "GPL-3+ package; pictures CC-BY-SA-3.0/4.0, CC-BY, CC0, public domain",
    "opencv-doc": "Apache-2.0 / BSD-3-Clause",
    "mate-backgrounds": "GPL-2+ / CC-BY-SA-4.0",
    "lomiri-wallpapers-16.04": "CC-BY-4.0 / CC-BY-SA-3.0/4.0 / CC0",
    "lomiri-wallpapers-20.04": "CC-BY-4.0 / CC-BY-SA-3.0/4.0 / CC0",
    "plasma-workspace-wallpapers": "GPL-2+ (LGPL-3 wallpapers)",
    "palapeli-data": "GPL-2+ / CC0",
    "labelme-examples": "GPL-3+ (photos from PASCAL VOC: Flickr terms)",
    "tuxpaint-data": "GPL-2+",
    "tuxpaint-stamps-default": "GPL-2",
}

# ---- decon_study_unlabeled: real photos --------------------------------------------------------
# pip package (import name) -> files inside it (shell globs allowed, matched per path segment).
PIP_PHOTOS: Dict[str, Tuple[str, ...]] = {
    "skimage": tuple("data/" + n for n in (
        "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
        "grass.png", "gravel.png", "hubble_deep_field.jpg", "motorcycle_left.png",
        "motorcycle_right.png", "rocket.jpg")),
    "foolbox": ("data/imagenet_*.jpg",),
    "imgviz": ("data/voc/rgb.jpg", "data/arc2017/rgb.jpg", "data/middlebury/grove3.png"),
    "matplotlib": ("mpl-data/sample_data/grace_hopper.jpg",),
    # Peter Corke's Machine Vision Toolbox data: one image of each stereo pair / sequence.
    "mvtbdata": tuple("images/" + n for n in (
        "building2-3.png", "castle.png", "church.png", "eiffel-1.png", "eiffel-2.png",
        "flowers?.png", "greenscreen.png", "image3.jpg", "lab-scene.png", "notre-dame.png",
        "parks.png", "penguins.png", "road.png", "rocks2-l.png", "roof.png", "street.png",
        "tomato_*.png", "walls-l.png", "campus/*.png", "campus/holdout/*.png",
        "mosaic/aerial2-001.png", "mosaic/aerial-08.png", "mosaic/aerialphoto.png",
        "seq/im.001.png")),
}
# Debian package -> files (relative to the filesystem root).
_OPENCV = "usr/share/doc/opencv-doc/examples/"
DEB_PHOTOS: Dict[str, Tuple[str, ...]] = {
    "opencv-doc": tuple(_OPENCV + "data/" + n for n in (
        "aero1.jpg", "aero3.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png",
        "board.jpg", "box_in_scene.png", "building.jpg", "butterfly.jpg", "chicky_512.png",
        "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg", "left.jpg", "leuvenA.jpg",
        "messi5.jpg", "orange.jpg", "rubberwhale1.png", "squirrel_cls.jpg", "stuff.jpg"))
    + (_OPENCV + "text/scenetext0?.jpg", _OPENCV + "hfs/data/00?.jpg"),
    "mate-backgrounds": tuple("usr/share/backgrounds/mate/nature/" + n for n in (
        "Aqua.jpg", "Blinds.jpg", "FreshFlower.jpg", "Garden.jpg", "LadyBird.jpg",
        "RainDrops.jpg", "TwoWings.jpg", "YellowFlower.jpg")),
    "lomiri-wallpapers-16.04": tuple("usr/share/backgrounds/" + n for n in (
        "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Picture_0B_by_freespace.jpg",
        "Picture_1A_by_freespace.jpg", "Wine_by_Jakkub_Mede.jpg", "free_by_Peter_Nerlich.jpg",
        "friends_by_Aitzol_Berasategi.jpg", "seeding_by_Clements_Engelhardt.jpg")),
    "lomiri-wallpapers-20.04": ("usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",),
    "plasma-workspace-wallpapers": tuple(
        f"usr/share/wallpapers/{n}/contents/images/2560x1600.jpg" for n in (
            "BytheWater", "ColdRipple", "EveningGlow", "FallenLeaf", "Grey", "Kite",
            "OneStandsOut", "summer_1am")),
    "palapeli-data": ("usr/share/palapeli/collection/*.jpg",),
    "labelme-examples": tuple("usr/share/doc/labelme-examples/examples/" + n for n in (
        "instance_segmentation/data_annotated/2011_0000??.jpg",
        "classification/data_annotated/000?.jpg", "tutorial/apc2016_obj3.jpg",
        "video_annotation/data_annotated/00000100.jpg")),
    "tuxpaint-data": tuple("usr/share/tuxpaint/templates/" + n for n in (
        "corn_maze.jpg", "jellyfish.jpg", "sheep.jpg", "spiders_web.jpg")),
}
# GCompris keeps its pictures in Qt resource bundles: (bundle, glob of .webp photos inside it).
GCOMPRIS_RCC_DIR = "usr/share/gcompris-qt/rcc"
_ACT = "gcompris/src/activities/"
GCOMPRIS_PHOTOS: Tuple[Tuple[str, str], ...] = (  # larger copies first: duplicates keep them
    ("explore_monuments.rcc", _ACT + "explore_monuments/resource/*/*.webp"),
    ("explore_world_animals.rcc", _ACT + "explore_world_animals/resource/animals/*.webp"),
    ("explore_farm_animals.rcc", _ACT + "explore_farm_animals/resource/animals/*.webp"),
    ("explore_world_music.rcc", _ACT + "explore_world_music/resource/music/*.webp"),
    ("erase.rcc", _ACT + "erase/resource/*.webp"),
    ("categorization.rcc", _ACT + "categorization/resource/images/monuments/*.webp"),
    ("categorization.rcc", _ACT + "categorization/resource/images/fishes/*.webp"),
    ("categorization.rcc", _ACT + "categorization/resource/images/tools/*.webp"),
    ("categorization.rcc", _ACT + "categorization/resource/images/renewable/*.webp"),
    ("categorization.rcc", _ACT + "categorization/resource/images/others/*.webp"),
)

# ---- decon_study_seg: backgrounds (scenes and textures without any of the object classes) -----
BACKGROUNDS: Dict[str, Tuple[str, ...]] = {
    "tuxpaint-data": tuple("usr/share/tuxpaint/templates/" + n for n in (
        "burnt_bark.jpg", "cliff.jpg", "lighthouse.jpg", "mossy_bark.jpg", "mossy_log.jpg",
        "mudstone.jpg", "ocean_splash.jpg", "ocean_waves.jpg", "redwoods_above.jpg", "rocks.jpg",
        "sun_behind_clouds.jpg", "sun_behind_leaves.jpg", "trees_above.jpg", "trees_at_dusk.jpg",
        "wool_mill_machine.jpg")),
    "mate-backgrounds": tuple("usr/share/backgrounds/mate/nature/" + n for n in (
        "Dune.jpg", "GreenMeadow.jpg", "Storm.jpg", "Wood.jpg")),
    "lomiri-wallpapers-16.04": tuple("usr/share/backgrounds/" + n for n in (
        "aitzgorri_by_Aitzol_Berasategi.jpg", "life_by_Aitzol_Berasategi.jpg",
        "picosdeeuropa_by_Aitzol_Berasategi.jpg", "sunset_by_Aitzol_Berasategi.jpg")),
    "plasma-workspace-wallpapers": tuple(
        f"usr/share/wallpapers/{n}/contents/images/2560x1600.jpg" for n in ("DarkestHour", "Path")),
}

# ---- decon_study_seg: object classes = Tux Paint photo stamps (RGBA cut-outs) ------------------
STAMPS_DEB = "tuxpaint-stamps-default"
STAMPS_ROOT = "usr/share/tuxpaint/stamps"
# class name (each of ``CLASS_NAMES[1:]``, the registered stuff_classes) -> stamp folders
# (searched recursively).
STAMP_FOLDERS: Dict[str, Tuple[str, ...]] = {
    "bird": ("animals/birds",),
    "mammal": ("animals/mammals", "animals/marsupials"),
    "sea_animal": ("animals/fish", "animals/shellfish"),
    "insect": ("animals/insects",),
    "fruit": ("food/fruit", "food/nuts"),
    "vegetable": ("food/vegetables", "plants/mushrooms"),
    "flower": ("plants/flowers",),
    "vehicle": ("vehicles", "military/vehicles"),
    "instrument": ("hobbies/music",),
    "tool": ("household/tools",),
}
# (name, folders) in label order: label value = position + 1 (0 = background).
STAMP_CLASSES: Tuple[Tuple[str, Tuple[str, ...]], ...] = tuple(
    (name, STAMP_FOLDERS[name]) for name in CLASS_NAMES[1:])
# Drawings, silhouettes and non-objects among the photo stamps; mirrored copies of others.
STAMP_SKIP_DIRS = {"cartoon", "toys", "plastic"}
STAMP_SKIP_FILES = {
    "bee.png", "fly.png", "Brown_slug.png", "echidna.png", "hedgehog.png", "sedan_police.png",
    "7spoke256.png", "walnutBoat.png", "chineseJunk.png", "wheel_tractor.png",
}
