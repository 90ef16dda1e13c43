"""The ``keras.datasets`` image sets, through Keras' own loaders and download cache."""

from __future__ import annotations

from pipelines._arrays import dataset_from_arrays
from pipelines._dataset import Dataset
from pipelines._errors import DataError, one_line

__all__ = ["KERAS_CLASS_NAMES", "load_keras_dataset"]

_DIGITS = tuple(str(d) for d in range(10))
_FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
            "Ankle boot")  # fmt: skip
_CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# The 100 "fine" labels of CIFAR-100 in label order (alphabetical), as in the archive's meta file.
_CIFAR100 = tuple(
    """apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
    camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
    dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower
    leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid
    otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road
    rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower
    sweet_pepper table tank telephone television tiger tractor train trout tulip turtle wardrobe whale
    willow_tree wolf woman worm""".split()
)

# keras.datasets module name -> the names of its labels 0..K-1.
KERAS_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": _DIGITS,
    "fashion_mnist": _FASHION,
    "cifar10": _CIFAR10,
    "cifar100": _CIFAR100,
}


def load_keras_dataset(name: str) -> Dataset:
    """``keras.datasets.<name>.load_data()`` with its given test split.

    Keras downloads the files on first use into its cache (``$KERAS_HOME/datasets``,
    by default ``~/.keras/datasets``) and reads them from there afterwards.

    Raises:
        DataError: the download or the cached file failed, naming the dataset.
    """
    import keras

    try:
        (x, y), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as exc:  # Keras raises bare Exception for failed downloads
        raise DataError(
            f"could not load keras.datasets.{name}: {one_line(exc)}; it is downloaded on first use into "
            "Keras' cache ($KERAS_HOME/datasets, by default ~/.keras/datasets): if the download failed, check "
            "the network connection or put the files there; if a file there is damaged, delete it, and it is "
            "downloaded again"
        ) from exc
    return dataset_from_arrays(
        x, y, x_test, y_test, source=f"keras.datasets.{name}", class_names=KERAS_CLASS_NAMES[name]
    )
