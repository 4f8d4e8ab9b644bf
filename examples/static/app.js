/* Shard catalogue page: the example service's front end (examples/frontend.py serves it).
 * A hand-written stand-in for a bundler's output: data, a tiny view layer and formatting
 * helpers. Deterministic, so tests can compare the bytes a browser receives with this file. */
(function () {
  "use strict";

  var SHARD_TYPES = [
  {name: "fjord-nimbus-000", tier: "bronze", region: "us-west", replicas: 5, cpu: 16, memoryGiB: 8, iops: 13100},
  {name: "zephyr-quartz-001", tier: "gold", region: "ap-south", replicas: 9, cpu: 4, memoryGiB: 4, iops: 1300},
  {name: "lumen-sierra-002", tier: "silver", region: "eu-west", replicas: 3, cpu: 4, memoryGiB: 8, iops: 18700},
  {name: "bravo-nimbus-003", tier: "bronze", region: "us-west", replicas: 8, cpu: 2, memoryGiB: 16, iops: 14800},
  {name: "prairie-willow-004", tier: "gold", region: "ap-east", replicas: 6, cpu: 2, memoryGiB: 8, iops: 19900},
  {name: "cedar-delta-005", tier: "gold", region: "us-west", replicas: 3, cpu: 32, memoryGiB: 128, iops: 9700},
  {name: "meadow-prairie-006", tier: "gold", region: "eu-north", replicas: 1, cpu: 16, memoryGiB: 8, iops: 2900},
  {name: "yarrow-grove-007", tier: "gold", region: "ap-east", replicas: 2, cpu: 2, memoryGiB: 64, iops: 13100},
  {name: "raven-meadow-008", tier: "gold", region: "us-east", replicas: 3, cpu: 32, memoryGiB: 32, iops: 8400},
  {name: "lumen-onyx-009", tier: "bronze", region: "us-west", replicas: 6, cpu: 16, memoryGiB: 32, iops: 7800},
  {name: "alpha-cedar-010", tier: "gold", region: "ap-east", replicas: 8, cpu: 2, memoryGiB: 32, iops: 2700},
  {name: "raven-tundra-011", tier: "bronze", region: "ap-south", replicas: 4, cpu: 32, memoryGiB: 64, iops: 9100},
  {name: "raven-tundra-012", tier: "gold", region: "eu-north", replicas: 3, cpu: 8, memoryGiB: 16, iops: 9800},
  {name: "yarrow-tundra-013", tier: "silver", region: "eu-north", replicas: 2, cpu: 4, memoryGiB: 4, iops: 5400},
  {name: "yarrow-nimbus-014", tier: "silver", region: "eu-north", replicas: 1, cpu: 32, memoryGiB: 128, iops: 7100},
  {name: "nimbus-fjord-015", tier: "bronze", region: "ap-south", replicas: 1, cpu: 8, memoryGiB: 32, iops: 13900},
  {name: "meadow-vale-016", tier: "gold", region: "eu-north", replicas: 3, cpu: 32, memoryGiB: 4, iops: 12200},
  {name: "zephyr-nimbus-017", tier: "bronze", region: "us-west", replicas: 1, cpu: 8, memoryGiB: 4, iops: 7600},
  {name: "vale-juniper-018", tier: "gold", region: "us-west", replicas: 4, cpu: 4, memoryGiB: 32, iops: 2700},
  {name: "kestrel-umber-019", tier: "gold", region: "eu-north", replicas: 8, cpu: 2, memoryGiB: 16, iops: 4500},
  {name: "umber-quartz-020", tier: "bronze", region: "us-west", replicas: 1, cpu: 4, memoryGiB: 16, iops: 4900},
  {name: "lumen-tundra-021", tier: "silver", region: "us-west", replicas: 8, cpu: 8, memoryGiB: 8, iops: 14600},
  {name: "sierra-indigo-022", tier: "gold", region: "ap-east", replicas: 1, cpu: 16, memoryGiB: 128, iops: 4200},
  {name: "willow-alpha-023", tier: "silver", region: "ap-south", replicas: 6, cpu: 4, memoryGiB: 64, iops: 11700},
  {name: "indigo-vale-024", tier: "silver", region: "eu-north", replicas: 3, cpu: 4, memoryGiB: 4, iops: 11100},
  {name: "delta-fjord-025", tier: "gold", region: "ap-east", replicas: 8, cpu: 4, memoryGiB: 4, iops: 4000},
  {name: "umber-juniper-026", tier: "gold", region: "us-east", replicas: 9, cpu: 8, memoryGiB: 32, iops: 13600},
  {name: "harbor-tundra-027", tier: "gold", region: "eu-north", replicas: 3, cpu: 16, memoryGiB: 8, iops: 19100},
  {name: "xenon-raven-028", tier: "gold", region: "ap-south", replicas: 9, cpu: 2, memoryGiB: 4, iops: 10900},
  {name: "onyx-cedar-029", tier: "silver", region: "ap-south", replicas: 3, cpu: 4, memoryGiB: 16, iops: 18800},
  {name: "tundra-kestrel-030", tier: "bronze", region: "eu-west", replicas: 4, cpu: 16, memoryGiB: 8, iops: 8900},
  {name: "xenon-juniper-031", tier: "bronze", region: "ap-south", replicas: 8, cpu: 32, memoryGiB: 4, iops: 14900},
  {name: "tundra-bravo-032", tier: "bronze", region: "ap-south", replicas: 6, cpu: 32, memoryGiB: 16, iops: 8400},
  {name: "willow-tundra-033", tier: "bronze", region: "ap-south", replicas: 4, cpu: 2, memoryGiB: 64, iops: 9300},
  {name: "grove-lumen-034", tier: "gold", region: "us-east", replicas: 7, cpu: 2, memoryGiB: 4, iops: 17600},
  {name: "cedar-umber-035", tier: "silver", region: "ap-south", replicas: 1, cpu: 16, memoryGiB: 32, iops: 14200},
  {name: "quartz-meadow-036", tier: "silver", region: "eu-west", replicas: 4, cpu: 2, memoryGiB: 4, iops: 17900},
  {name: "nimbus-bravo-037", tier: "gold", region: "us-east", replicas: 7, cpu: 16, memoryGiB: 32, iops: 7000},
  {name: "meadow-meadow-038", tier: "silver", region: "us-west", replicas: 4, cpu: 2, memoryGiB: 4, iops: 13200},
  {name: "fjord-prairie-039", tier: "silver", region: "ap-east", replicas: 4, cpu: 16, memoryGiB: 128, iops: 17100},
  {name: "yarrow-tundra-040", tier: "bronze", region: "ap-east", replicas: 5, cpu: 4, memoryGiB: 32, iops: 13700},
  {name: "meadow-juniper-041", tier: "bronze", region: "us-west", replicas: 9, cpu: 2, memoryGiB: 8, iops: 9000},
  {name: "grove-juniper-042", tier: "silver", region: "ap-east", replicas: 3, cpu: 2, memoryGiB: 64, iops: 5400},
  {name: "cedar-quartz-043", tier: "silver", region: "ap-south", replicas: 7, cpu: 16, memoryGiB: 4, iops: 5200},
  {name: "willow-nimbus-044", tier: "gold", region: "ap-east", replicas: 6, cpu: 8, memoryGiB: 128, iops: 15800},
  {name: "vale-grove-045", tier: "silver", region: "eu-west", replicas: 1, cpu: 8, memoryGiB: 64, iops: 7500},
  {name: "ember-vale-046", tier: "bronze", region: "eu-north", replicas: 4, cpu: 32, memoryGiB: 128, iops: 8100},
  {name: "willow-meadow-047", tier: "gold", region: "us-west", replicas: 8, cpu: 16, memoryGiB: 32, iops: 12700},
  {name: "tundra-vale-048", tier: "silver", region: "ap-east", replicas: 3, cpu: 16, memoryGiB: 64, iops: 7900},
  {name: "delta-grove-049", tier: "gold", region: "eu-west", replicas: 6, cpu: 8, memoryGiB: 4, iops: 2900},
  {name: "quartz-sierra-050", tier: "gold", region: "us-west", replicas: 8, cpu: 16, memoryGiB: 8, iops: 1100},
  {name: "raven-ember-051", tier: "gold", region: "us-east", replicas: 4, cpu: 16, memoryGiB: 16, iops: 1000},
  {name: "lumen-fjord-052", tier: "gold", region: "ap-south", replicas: 7, cpu: 32, memoryGiB: 4, iops: 8900},
  {name: "grove-nimbus-053", tier: "silver", region: "ap-south", replicas: 4, cpu: 4, memoryGiB: 64, iops: 15900},
  {name: "onyx-zephyr-054", tier: "gold", region: "ap-east", replicas: 2, cpu: 2, memoryGiB: 32, iops: 17800},
  {name: "grove-ember-055", tier: "gold", region: "us-west", replicas: 9, cpu: 32, memoryGiB: 64, iops: 16800},
  {name: "prairie-prairie-056", tier: "bronze", region: "ap-east", replicas: 6, cpu: 4, memoryGiB: 16, iops: 4900},
  {name: "lumen-juniper-057", tier: "silver", region: "ap-east", replicas: 1, cpu: 2, memoryGiB: 128, iops: 2700},
  {name: "fjord-quartz-058", tier: "gold", region: "ap-east", replicas: 4, cpu: 8, memoryGiB: 16, iops: 10000},
  {name: "bravo-fjord-059", tier: "gold", region: "ap-south", replicas: 8, cpu: 8, memoryGiB: 128, iops: 17700},
  {name: "meadow-fjord-060", tier: "gold", region: "eu-west", replicas: 4, cpu: 8, memoryGiB: 64, iops: 7400},
  {name: "nimbus-grove-061", tier: "bronze", region: "eu-north", replicas: 9, cpu: 16, memoryGiB: 4, iops: 9300},
  {name: "harbor-grove-062", tier: "bronze", region: "eu-west", replicas: 6, cpu: 32, memoryGiB: 64, iops: 17200},
  {name: "umber-umber-063", tier: "gold", region: "eu-west", replicas: 6, cpu: 16, memoryGiB: 32, iops: 5100},
  {name: "onyx-zephyr-064", tier: "gold", region: "us-east", replicas: 1, cpu: 4, memoryGiB: 128, iops: 17500},
  {name: "tundra-raven-065", tier: "bronze", region: "eu-west", replicas: 5, cpu: 16, memoryGiB: 8, iops: 12800},
  {name: "willow-zephyr-066", tier: "silver", region: "eu-west", replicas: 6, cpu: 4, memoryGiB: 64, iops: 7700},
  {name: "tundra-alpha-067", tier: "silver", region: "ap-east", replicas: 3, cpu: 4, memoryGiB: 64, iops: 13800},
  {name: "nimbus-grove-068", tier: "gold", region: "ap-south", replicas: 9, cpu: 8, memoryGiB: 32, iops: 19900},
  {name: "yarrow-lumen-069", tier: "gold", region: "eu-north", replicas: 7, cpu: 32, memoryGiB: 8, iops: 10000},
  {name: "raven-vale-070", tier: "silver", region: "ap-south", replicas: 3, cpu: 2, memoryGiB: 32, iops: 15800},
  {name: "yarrow-alpha-071", tier: "bronze", region: "ap-east", replicas: 4, cpu: 2, memoryGiB: 8, iops: 14600},
  {name: "quartz-lumen-072", tier: "bronze", region: "us-east", replicas: 2, cpu: 4, memoryGiB: 8, iops: 17900},
  {name: "nimbus-tundra-073", tier: "bronze", region: "us-west", replicas: 8, cpu: 4, memoryGiB: 128, iops: 6400},
  {name: "indigo-fjord-074", tier: "silver", region: "us-west", replicas: 4, cpu: 16, memoryGiB: 32, iops: 7700},
  {name: "bravo-raven-075", tier: "silver", region: "eu-north", replicas: 1, cpu: 8, memoryGiB: 64, iops: 12200},
  {name: "zephyr-juniper-076", tier: "bronze", region: "eu-north", replicas: 4, cpu: 4, memoryGiB: 32, iops: 4600},
  {name: "meadow-bravo-077", tier: "gold", region: "ap-east", replicas: 5, cpu: 32, memoryGiB: 32, iops: 6000},
  {name: "prairie-harbor-078", tier: "bronze", region: "ap-south", replicas: 8, cpu: 2, memoryGiB: 4, iops: 10400},
  {name: "ember-prairie-079", tier: "silver", region: "us-west", replicas: 6, cpu: 16, memoryGiB: 64, iops: 17000},
  {name: "onyx-tundra-080", tier: "bronze", region: "ap-east", replicas: 2, cpu: 8, memoryGiB: 4, iops: 10500},
  {name: "umber-indigo-081", tier: "bronze", region: "us-west", replicas: 2, cpu: 4, memoryGiB: 64, iops: 9500},
  {name: "cedar-xenon-082", tier: "silver", region: "eu-north", replicas: 3, cpu: 4, memoryGiB: 16, iops: 3600},
  {name: "vale-tundra-083", tier: "silver", region: "ap-east", replicas: 4, cpu: 32, memoryGiB: 8, iops: 4400},
  {name: "prairie-yarrow-084", tier: "bronze", region: "us-west", replicas: 4, cpu: 2, memoryGiB: 128, iops: 9500},
  {name: "umber-quartz-085", tier: "silver", region: "eu-west", replicas: 4, cpu: 4, memoryGiB: 16, iops: 2400},
  {name: "indigo-willow-086", tier: "silver", region: "eu-west", replicas: 2, cpu: 32, memoryGiB: 128, iops: 14000},
  {name: "alpha-xenon-087", tier: "gold", region: "ap-south", replicas: 8, cpu: 16, memoryGiB: 64, iops: 14700},
  {name: "raven-lumen-088", tier: "silver", region: "ap-east", replicas: 1, cpu: 8, memoryGiB: 8, iops: 9800},
  {name: "meadow-yarrow-089", tier: "silver", region: "ap-east", replicas: 8, cpu: 32, memoryGiB: 64, iops: 6700},
  {name: "onyx-zephyr-090", tier: "gold", region: "eu-west", replicas: 8, cpu: 4, memoryGiB: 64, iops: 15900},
  {name: "xenon-cedar-091", tier: "silver", region: "us-west", replicas: 3, cpu: 4, memoryGiB: 4, iops: 7900},
  {name: "kestrel-willow-092", tier: "silver", region: "us-east", replicas: 4, cpu: 2, memoryGiB: 32, iops: 5700},
  {name: "grove-ember-093", tier: "gold", region: "ap-south", replicas: 3, cpu: 4, memoryGiB: 8, iops: 15100},
  {name: "delta-fjord-094", tier: "bronze", region: "ap-east", replicas: 2, cpu: 16, memoryGiB: 4, iops: 4100},
  {name: "grove-willow-095", tier: "bronze", region: "eu-north", replicas: 9, cpu: 2, memoryGiB: 4, iops: 7200},
  {name: "harbor-tundra-096", tier: "bronze", region: "eu-west", replicas: 4, cpu: 4, memoryGiB: 32, iops: 15700},
  {name: "zephyr-quartz-097", tier: "bronze", region: "ap-east", replicas: 1, cpu: 16, memoryGiB: 16, iops: 9100},
  {name: "zephyr-vale-098", tier: "silver", region: "us-west", replicas: 1, cpu: 32, memoryGiB: 32, iops: 2100},
  {name: "meadow-yarrow-099", tier: "bronze", region: "us-west", replicas: 3, cpu: 2, memoryGiB: 128, iops: 3000},
  {name: "yarrow-indigo-100", tier: "silver", region: "ap-east", replicas: 5, cpu: 32, memoryGiB: 8, iops: 8400},
  {name: "kestrel-lumen-101", tier: "bronze", region: "us-west", replicas: 5, cpu: 16, memoryGiB: 16, iops: 2300},
  {name: "delta-juniper-102", tier: "bronze", region: "eu-west", replicas: 8, cpu: 8, memoryGiB: 8, iops: 19400},
  {name: "ember-juniper-103", tier: "silver", region: "us-west", replicas: 2, cpu: 8, memoryGiB: 128, iops: 18300},
  {name: "onyx-harbor-104", tier: "gold", region: "us-east", replicas: 7, cpu: 32, memoryGiB: 128, iops: 3700},
  {name: "umber-prairie-105", tier: "gold", region: "ap-south", replicas: 6, cpu: 4, memoryGiB: 4, iops: 13600},
  {name: "umber-juniper-106", tier: "bronze", region: "us-east", replicas: 7, cpu: 4, memoryGiB: 4, iops: 11800},
  {name: "quartz-grove-107", tier: "gold", region: "eu-west", replicas: 4, cpu: 4, memoryGiB: 8, iops: 9600},
  {name: "alpha-vale-108", tier: "gold", region: "ap-east", replicas: 8, cpu: 4, memoryGiB: 128, iops: 10000},
  {name: "quartz-meadow-109", tier: "gold", region: "us-east", replicas: 3, cpu: 8, memoryGiB: 32, iops: 4600},
  {name: "kestrel-lumen-110", tier: "bronze", region: "eu-north", replicas: 5, cpu: 2, memoryGiB: 4, iops: 7200},
  {name: "xenon-juniper-111", tier: "silver", region: "ap-south", replicas: 7, cpu: 4, memoryGiB: 128, iops: 11100},
  {name: "alpha-umber-112", tier: "bronze", region: "us-east", replicas: 5, cpu: 4, memoryGiB: 64, iops: 20000},
  {name: "harbor-zephyr-113", tier: "gold", region: "eu-west", replicas: 4, cpu: 16, memoryGiB: 8, iops: 13700},
  {name: "umber-willow-114", tier: "bronze", region: "ap-south", replicas: 4, cpu: 4, memoryGiB: 128, iops: 12000},
  {name: "meadow-vale-115", tier: "silver", region: "eu-north", replicas: 9, cpu: 16, memoryGiB: 4, iops: 4500},
  {name: "willow-alpha-116", tier: "gold", region: "eu-north", replicas: 8, cpu: 2, memoryGiB: 32, iops: 2200},
  {name: "cedar-umber-117", tier: "silver", region: "eu-west", replicas: 3, cpu: 32, memoryGiB: 64, iops: 8500},
  {name: "umber-onyx-118", tier: "bronze", region: "us-east", replicas: 7, cpu: 16, memoryGiB: 128, iops: 15100},
  {name: "delta-indigo-119", tier: "silver", region: "eu-west", replicas: 7, cpu: 8, memoryGiB: 32, iops: 17000},
  {name: "kestrel-willow-120", tier: "silver", region: "us-east", replicas: 3, cpu: 32, memoryGiB: 16, iops: 17600},
  {name: "umber-lumen-121", tier: "gold", region: "ap-east", replicas: 3, cpu: 2, memoryGiB: 16, iops: 5100},
  {name: "alpha-kestrel-122", tier: "gold", region: "eu-north", replicas: 6, cpu: 4, memoryGiB: 64, iops: 1600},
  {name: "bravo-zephyr-123", tier: "gold", region: "eu-north", replicas: 6, cpu: 32, memoryGiB: 128, iops: 15100},
  {name: "harbor-ember-124", tier: "silver", region: "ap-south", replicas: 3, cpu: 32, memoryGiB: 8, iops: 3400},
  {name: "fjord-xenon-125", tier: "silver", region: "us-west", replicas: 5, cpu: 8, memoryGiB: 8, iops: 19600},
  {name: "meadow-meadow-126", tier: "silver", region: "ap-east", replicas: 1, cpu: 4, memoryGiB: 16, iops: 9200},
  {name: "harbor-juniper-127", tier: "silver", region: "eu-north", replicas: 2, cpu: 32, memoryGiB: 32, iops: 12700},
  {name: "willow-willow-128", tier: "gold", region: "eu-north", replicas: 8, cpu: 2, memoryGiB: 32, iops: 13400},
  {name: "cedar-willow-129", tier: "bronze", region: "us-west", replicas: 3, cpu: 32, memoryGiB: 4, iops: 16700},
  {name: "zephyr-alpha-130", tier: "bronze", region: "eu-west", replicas: 5, cpu: 32, memoryGiB: 8, iops: 19400},
  {name: "umber-alpha-131", tier: "bronze", region: "eu-west", replicas: 8, cpu: 2, memoryGiB: 64, iops: 11400},
  {name: "lumen-tundra-132", tier: "silver", region: "us-west", replicas: 8, cpu: 8, memoryGiB: 8, iops: 15400},
  {name: "juniper-umber-133", tier: "gold", region: "us-east", replicas: 2, cpu: 4, memoryGiB: 8, iops: 11500},
  {name: "umber-kestrel-134", tier: "bronze", region: "us-east", replicas: 6, cpu: 16, memoryGiB: 64, iops: 20000},
  {name: "delta-lumen-135", tier: "bronze", region: "ap-south", replicas: 1, cpu: 2, memoryGiB: 128, iops: 6100},
  {name: "harbor-onyx-136", tier: "silver", region: "us-west", replicas: 5, cpu: 32, memoryGiB: 8, iops: 17800},
  {name: "raven-prairie-137", tier: "silver", region: "eu-north", replicas: 6, cpu: 8, memoryGiB: 64, iops: 16000},
  {name: "xenon-prairie-138", tier: "bronze", region: "us-west", replicas: 4, cpu: 8, memoryGiB: 8, iops: 18100},
  {name: "fjord-raven-139", tier: "bronze", region: "eu-north", replicas: 2, cpu: 4, memoryGiB: 16, iops: 13300},
  {name: "nimbus-tundra-140", tier: "bronze", region: "us-east", replicas: 4, cpu: 32, memoryGiB: 16, iops: 3200},
  {name: "tundra-umber-141", tier: "bronze", region: "eu-west", replicas: 5, cpu: 32, memoryGiB: 4, iops: 6200},
  {name: "raven-fjord-142", tier: "bronze", region: "eu-west", replicas: 9, cpu: 32, memoryGiB: 64, iops: 17300},
  {name: "harbor-umber-143", tier: "silver", region: "ap-east", replicas: 7, cpu: 16, memoryGiB: 16, iops: 16800},
  {name: "willow-fjord-144", tier: "silver", region: "eu-north", replicas: 1, cpu: 8, memoryGiB: 32, iops: 11600},
  {name: "grove-vale-145", tier: "bronze", region: "us-east", replicas: 7, cpu: 16, memoryGiB: 16, iops: 16000},
  {name: "xenon-harbor-146", tier: "gold", region: "ap-east", replicas: 6, cpu: 8, memoryGiB: 16, iops: 9700},
  {name: "quartz-nimbus-147", tier: "bronze", region: "eu-west", replicas: 5, cpu: 4, memoryGiB: 8, iops: 5700},
  {name: "delta-kestrel-148", tier: "bronze", region: "eu-north", replicas: 3, cpu: 32, memoryGiB: 8, iops: 9000},
  {name: "tundra-quartz-149", tier: "bronze", region: "ap-east", replicas: 2, cpu: 2, memoryGiB: 4, iops: 18200},
  {name: "prairie-sierra-150", tier: "bronze", region: "eu-north", replicas: 3, cpu: 16, memoryGiB: 32, iops: 8700},
  {name: "onyx-zephyr-151", tier: "gold", region: "eu-north", replicas: 3, cpu: 4, memoryGiB: 64, iops: 10700},
  {name: "umber-umber-152", tier: "silver", region: "eu-north", replicas: 7, cpu: 16, memoryGiB: 16, iops: 4000},
  {name: "vale-vale-153", tier: "gold", region: "ap-east", replicas: 9, cpu: 4, memoryGiB: 4, iops: 3900},
  {name: "kestrel-bravo-154", tier: "gold", region: "us-west", replicas: 6, cpu: 32, memoryGiB: 32, iops: 19600},
  {name: "prairie-indigo-155", tier: "gold", region: "ap-east", replicas: 7, cpu: 2, memoryGiB: 64, iops: 15700},
  {name: "indigo-ember-156", tier: "silver", region: "ap-south", replicas: 8, cpu: 2, memoryGiB: 16, iops: 3500},
  {name: "onyx-meadow-157", tier: "silver", region: "ap-east", replicas: 8, cpu: 16, memoryGiB: 16, iops: 16800},
  {name: "zephyr-bravo-158", tier: "silver", region: "eu-north", replicas: 1, cpu: 32, memoryGiB: 16, iops: 7100},
  {name: "prairie-indigo-159", tier: "silver", region: "ap-south", replicas: 9, cpu: 16, memoryGiB: 8, iops: 19800},
  {name: "yarrow-nimbus-160", tier: "silver", region: "us-east", replicas: 4, cpu: 8, memoryGiB: 16, iops: 8200},
  {name: "yarrow-juniper-161", tier: "bronze", region: "us-west", replicas: 1, cpu: 2, memoryGiB: 16, iops: 2700},
  {name: "vale-delta-162", tier: "silver", region: "ap-east", replicas: 8, cpu: 8, memoryGiB: 32, iops: 9400},
  {name: "meadow-harbor-163", tier: "bronze", region: "us-east", replicas: 2, cpu: 4, memoryGiB: 8, iops: 14900},
  {name: "xenon-cedar-164", tier: "gold", region: "us-east", replicas: 7, cpu: 32, memoryGiB: 64, iops: 14100},
  {name: "meadow-prairie-165", tier: "gold", region: "ap-south", replicas: 3, cpu: 2, memoryGiB: 64, iops: 11200},
  {name: "willow-prairie-166", tier: "gold", region: "us-west", replicas: 4, cpu: 4, memoryGiB: 16, iops: 6200},
  {name: "alpha-fjord-167", tier: "bronze", region: "ap-east", replicas: 4, cpu: 2, memoryGiB: 16, iops: 16300},
  {name: "meadow-tundra-168", tier: "bronze", region: "ap-east", replicas: 4, cpu: 32, memoryGiB: 4, iops: 11200},
  {name: "juniper-cedar-169", tier: "bronze", region: "us-east", replicas: 1, cpu: 4, memoryGiB: 32, iops: 10800},
  {name: "nimbus-lumen-170", tier: "gold", region: "us-east", replicas: 8, cpu: 8, memoryGiB: 4, iops: 1500},
  {name: "raven-ember-171", tier: "gold", region: "us-west", replicas: 9, cpu: 32, memoryGiB: 32, iops: 9000},
  {name: "willow-onyx-172", tier: "bronze", region: "eu-west", replicas: 5, cpu: 2, memoryGiB: 16, iops: 20000},
  {name: "kestrel-juniper-173", tier: "gold", region: "ap-east", replicas: 1, cpu: 4, memoryGiB: 64, iops: 5300},
  {name: "sierra-bravo-174", tier: "silver", region: "ap-south", replicas: 3, cpu: 16, memoryGiB: 64, iops: 14300},
  {name: "harbor-zephyr-175", tier: "gold", region: "eu-west", replicas: 5, cpu: 16, memoryGiB: 128, iops: 17300},
  {name: "zephyr-cedar-176", tier: "bronze", region: "us-east", replicas: 7, cpu: 16, memoryGiB: 32, iops: 7400},
  {name: "cedar-prairie-177", tier: "bronze", region: "ap-east", replicas: 6, cpu: 4, memoryGiB: 64, iops: 18000},
  {name: "kestrel-grove-178", tier: "gold", region: "eu-north", replicas: 8, cpu: 16, memoryGiB: 64, iops: 5200},
  {name: "alpha-quartz-179", tier: "gold", region: "us-west", replicas: 5, cpu: 2, memoryGiB: 8, iops: 5600},
  {name: "indigo-bravo-180", tier: "gold", region: "ap-east", replicas: 4, cpu: 16, memoryGiB: 128, iops: 17200},
  {name: "grove-grove-181", tier: "silver", region: "us-west", replicas: 6, cpu: 2, memoryGiB: 8, iops: 4300},
  {name: "umber-lumen-182", tier: "silver", region: "us-west", replicas: 5, cpu: 8, memoryGiB: 16, iops: 10800},
  {name: "lumen-grove-183", tier: "bronze", region: "eu-north", replicas: 6, cpu: 32, memoryGiB: 4, iops: 7800},
  {name: "harbor-quartz-184", tier: "silver", region: "ap-east", replicas: 9, cpu: 32, memoryGiB: 32, iops: 6600},
  {name: "umber-tundra-185", tier: "silver", region: "us-east", replicas: 3, cpu: 32, memoryGiB: 4, iops: 20000},
  {name: "tundra-bravo-186", tier: "bronze", region: "eu-west", replicas: 8, cpu: 4, memoryGiB: 32, iops: 18200},
  {name: "nimbus-onyx-187", tier: "bronze", region: "eu-north", replicas: 9, cpu: 16, memoryGiB: 32, iops: 18500},
  {name: "umber-harbor-188", tier: "gold", region: "ap-south", replicas: 9, cpu: 32, memoryGiB: 4, iops: 9700},
  {name: "prairie-delta-189", tier: "bronze", region: "ap-south", replicas: 7, cpu: 8, memoryGiB: 16, iops: 11900},
  {name: "delta-juniper-190", tier: "gold", region: "us-east", replicas: 4, cpu: 8, memoryGiB: 32, iops: 18200},
  {name: "fjord-cedar-191", tier: "silver", region: "us-east", replicas: 8, cpu: 8, memoryGiB: 32, iops: 5400},
  {name: "willow-nimbus-192", tier: "silver", region: "ap-east", replicas: 8, cpu: 4, memoryGiB: 128, iops: 14100},
  {name: "fjord-tundra-193", tier: "gold", region: "ap-east", replicas: 8, cpu: 32, memoryGiB: 4, iops: 10600},
  {name: "fjord-cedar-194", tier: "silver", region: "eu-north", replicas: 8, cpu: 32, memoryGiB: 16, iops: 15100},
  {name: "prairie-meadow-195", tier: "silver", region: "eu-west", replicas: 4, cpu: 16, memoryGiB: 16, iops: 15600},
  {name: "tundra-harbor-196", tier: "bronze", region: "eu-west", replicas: 6, cpu: 8, memoryGiB: 16, iops: 18300},
  {name: "raven-zephyr-197", tier: "silver", region: "ap-south", replicas: 1, cpu: 4, memoryGiB: 128, iops: 1000},
  {name: "meadow-juniper-198", tier: "silver", region: "eu-west", replicas: 3, cpu: 2, memoryGiB: 4, iops: 6200},
  {name: "harbor-willow-199", tier: "bronze", region: "us-west", replicas: 2, cpu: 32, memoryGiB: 128, iops: 11100},
  {name: "fjord-tundra-200", tier: "gold", region: "eu-west", replicas: 8, cpu: 2, memoryGiB: 64, iops: 3000},
  {name: "zephyr-vale-201", tier: "silver", region: "us-west", replicas: 1, cpu: 4, memoryGiB: 32, iops: 18500},
  {name: "nimbus-sierra-202", tier: "gold", region: "eu-north", replicas: 1, cpu: 2, memoryGiB: 64, iops: 19700},
  {name: "umber-xenon-203", tier: "silver", region: "eu-north", replicas: 4, cpu: 8, memoryGiB: 64, iops: 17000},
  {name: "yarrow-zephyr-204", tier: "bronze", region: "eu-west", replicas: 5, cpu: 4, memoryGiB: 32, iops: 10100},
  {name: "xenon-meadow-205", tier: "gold", region: "ap-east", replicas: 5, cpu: 32, memoryGiB: 64, iops: 12500},
  {name: "nimbus-juniper-206", tier: "bronze", region: "eu-west", replicas: 7, cpu: 4, memoryGiB: 4, iops: 4300},
  {name: "juniper-prairie-207", tier: "bronze", region: "ap-east", replicas: 8, cpu: 2, memoryGiB: 16, iops: 17500},
  {name: "willow-zephyr-208", tier: "bronze", region: "us-east", replicas: 7, cpu: 32, memoryGiB: 4, iops: 16300},
  {name: "bravo-juniper-209", tier: "gold", region: "us-west", replicas: 5, cpu: 16, memoryGiB: 4, iops: 10400},
  {name: "alpha-ember-210", tier: "silver", region: "ap-south", replicas: 7, cpu: 2, memoryGiB: 128, iops: 18700},
  {name: "vale-ember-211", tier: "silver", region: "us-east", replicas: 2, cpu: 16, memoryGiB: 32, iops: 3600},
  {name: "ember-lumen-212", tier: "gold", region: "eu-north", replicas: 3, cpu: 4, memoryGiB: 8, iops: 12700},
  {name: "umber-tundra-213", tier: "silver", region: "ap-south", replicas: 2, cpu: 8, memoryGiB: 32, iops: 15400},
  {name: "sierra-fjord-214", tier: "gold", region: "eu-west", replicas: 6, cpu: 2, memoryGiB: 32, iops: 3000},
  {name: "juniper-zephyr-215", tier: "silver", region: "ap-east", replicas: 5, cpu: 2, memoryGiB: 8, iops: 10300},
  {name: "harbor-tundra-216", tier: "bronze", region: "us-west", replicas: 6, cpu: 4, memoryGiB: 32, iops: 8200},
  {name: "cedar-juniper-217", tier: "gold", region: "us-west", replicas: 3, cpu: 16, memoryGiB: 64, iops: 11600},
  {name: "alpha-umber-218", tier: "silver", region: "ap-south", replicas: 5, cpu: 4, memoryGiB: 32, iops: 16700},
  {name: "meadow-raven-219", tier: "silver", region: "ap-east", replicas: 3, cpu: 4, memoryGiB: 4, iops: 12300},
  {name: "onyx-lumen-220", tier: "bronze", region: "us-west", replicas: 2, cpu: 32, memoryGiB: 16, iops: 16800},
  {name: "delta-indigo-221", tier: "gold", region: "eu-north", replicas: 2, cpu: 2, memoryGiB: 8, iops: 1000},
  {name: "umber-tundra-222", tier: "silver", region: "eu-west", replicas: 8, cpu: 2, memoryGiB: 64, iops: 9400},
  {name: "quartz-quartz-223", tier: "bronze", region: "ap-south", replicas: 2, cpu: 4, memoryGiB: 16, iops: 16500},
  {name: "zephyr-onyx-224", tier: "gold", region: "us-east", replicas: 8, cpu: 4, memoryGiB: 32, iops: 1700},
  {name: "harbor-quartz-225", tier: "bronze", region: "us-west", replicas: 4, cpu: 16, memoryGiB: 8, iops: 8000},
  {name: "grove-ember-226", tier: "gold", region: "eu-north", replicas: 3, cpu: 8, memoryGiB: 16, iops: 19600},
  {name: "fjord-sierra-227", tier: "silver", region: "ap-south", replicas: 8, cpu: 2, memoryGiB: 64, iops: 4100},
  {name: "harbor-nimbus-228", tier: "bronze", region: "eu-west", replicas: 8, cpu: 2, memoryGiB: 16, iops: 5100},
  {name: "lumen-onyx-229", tier: "gold", region: "ap-south", replicas: 8, cpu: 4, memoryGiB: 4, iops: 10400},
  {name: "bravo-sierra-230", tier: "gold", region: "us-west", replicas: 1, cpu: 32, memoryGiB: 8, iops: 1200},
  {name: "vale-zephyr-231", tier: "gold", region: "us-east", replicas: 5, cpu: 8, memoryGiB: 16, iops: 16300},
  {name: "raven-xenon-232", tier: "gold", region: "ap-east", replicas: 4, cpu: 32, memoryGiB: 16, iops: 9100},
  {name: "vale-meadow-233", tier: "bronze", region: "ap-south", replicas: 1, cpu: 8, memoryGiB: 4, iops: 16400},
  {name: "yarrow-willow-234", tier: "bronze", region: "us-west", replicas: 8, cpu: 8, memoryGiB: 4, iops: 16300},
  {name: "quartz-juniper-235", tier: "gold", region: "us-east", replicas: 6, cpu: 2, memoryGiB: 64, iops: 12600},
  {name: "onyx-willow-236", tier: "silver", region: "us-west", replicas: 4, cpu: 2, memoryGiB: 4, iops: 7000},
  {name: "alpha-alpha-237", tier: "gold", region: "eu-west", replicas: 1, cpu: 16, memoryGiB: 128, iops: 19200},
  {name: "onyx-umber-238", tier: "bronze", region: "us-east", replicas: 7, cpu: 16, memoryGiB: 32, iops: 12000},
  {name: "vale-fjord-239", tier: "gold", region: "ap-south", replicas: 2, cpu: 32, memoryGiB: 8, iops: 14600},
  {name: "sierra-cedar-240", tier: "bronze", region: "eu-north", replicas: 8, cpu: 8, memoryGiB: 8, iops: 6600},
  {name: "willow-cedar-241", tier: "gold", region: "ap-east", replicas: 2, cpu: 16, memoryGiB: 8, iops: 19900},
  {name: "meadow-meadow-242", tier: "gold", region: "eu-north", replicas: 6, cpu: 32, memoryGiB: 128, iops: 11800},
  {name: "zephyr-zephyr-243", tier: "gold", region: "eu-north", replicas: 9, cpu: 2, memoryGiB: 32, iops: 12100},
  {name: "tundra-harbor-244", tier: "gold", region: "ap-south", replicas: 3, cpu: 2, memoryGiB: 4, iops: 13500},
  {name: "onyx-cedar-245", tier: "gold", region: "ap-south", replicas: 8, cpu: 2, memoryGiB: 32, iops: 1000},
  {name: "indigo-yarrow-246", tier: "gold", region: "eu-west", replicas: 4, cpu: 32, memoryGiB: 128, iops: 4700},
  {name: "delta-xenon-247", tier: "bronze", region: "us-east", replicas: 5, cpu: 32, memoryGiB: 32, iops: 6800},
  {name: "harbor-cedar-248", tier: "gold", region: "ap-south", replicas: 7, cpu: 8, memoryGiB: 32, iops: 19100},
  {name: "tundra-prairie-249", tier: "silver", region: "ap-south", replicas: 4, cpu: 32, memoryGiB: 64, iops: 16000},
  {name: "lumen-zephyr-250", tier: "bronze", region: "us-east", replicas: 5, cpu: 32, memoryGiB: 32, iops: 9700},
  {name: "umber-sierra-251", tier: "bronze", region: "us-west", replicas: 1, cpu: 4, memoryGiB: 8, iops: 16100},
  {name: "kestrel-raven-252", tier: "gold", region: "us-east", replicas: 5, cpu: 4, memoryGiB: 32, iops: 8600},
  {name: "quartz-zephyr-253", tier: "bronze", region: "eu-west", replicas: 2, cpu: 32, memoryGiB: 32, iops: 7000},
  {name: "umber-juniper-254", tier: "silver", region: "us-west", replicas: 6, cpu: 32, memoryGiB: 64, iops: 1500},
  {name: "fjord-cedar-255", tier: "gold", region: "us-west", replicas: 1, cpu: 16, memoryGiB: 8, iops: 3100},
  {name: "umber-prairie-256", tier: "silver", region: "ap-south", replicas: 7, cpu: 32, memoryGiB: 32, iops: 5500},
  {name: "onyx-bravo-257", tier: "gold", region: "us-east", replicas: 9, cpu: 8, memoryGiB: 4, iops: 11100},
  {name: "harbor-lumen-258", tier: "silver", region: "eu-west", replicas: 4, cpu: 2, memoryGiB: 8, iops: 2300},
  {name: "alpha-grove-259", tier: "silver", region: "ap-south", replicas: 6, cpu: 2, memoryGiB: 4, iops: 7400},
  {name: "indigo-willow-260", tier: "bronze", region: "us-east", replicas: 2, cpu: 4, memoryGiB: 32, iops: 18700},
  {name: "fjord-raven-261", tier: "gold", region: "us-east", replicas: 7, cpu: 4, memoryGiB: 16, iops: 2500},
  {name: "xenon-ember-262", tier: "silver", region: "ap-east", replicas: 1, cpu: 16, memoryGiB: 4, iops: 4500},
  {name: "raven-delta-263", tier: "silver", region: "eu-west", replicas: 1, cpu: 16, memoryGiB: 8, iops: 3600},
  {name: "willow-prairie-264", tier: "gold", region: "eu-north", replicas: 7, cpu: 32, memoryGiB: 128, iops: 15400},
  {name: "yarrow-grove-265", tier: "silver", region: "ap-south", replicas: 7, cpu: 8, memoryGiB: 4, iops: 2400},
  {name: "cedar-quartz-266", tier: "gold", region: "eu-west", replicas: 7, cpu: 8, memoryGiB: 32, iops: 15000},
  {name: "fjord-nimbus-267", tier: "bronze", region: "eu-north", replicas: 1, cpu: 16, memoryGiB: 8, iops: 19500},
  {name: "quartz-onyx-268", tier: "gold", region: "us-east", replicas: 9, cpu: 16, memoryGiB: 16, iops: 17200},
  {name: "delta-ember-269", tier: "bronze", region: "ap-south", replicas: 8, cpu: 32, memoryGiB: 32, iops: 18300},
  {name: "delta-bravo-270", tier: "gold", region: "eu-north", replicas: 5, cpu: 2, memoryGiB: 128, iops: 16600},
  {name: "lumen-ember-271", tier: "bronze", region: "eu-west", replicas: 9, cpu: 8, memoryGiB: 32, iops: 3100},
  {name: "yarrow-cedar-272", tier: "gold", region: "eu-north", replicas: 6, cpu: 4, memoryGiB: 8, iops: 19200},
  {name: "kestrel-delta-273", tier: "bronze", region: "eu-west", replicas: 3, cpu: 32, memoryGiB: 16, iops: 2300},
  {name: "tundra-ember-274", tier: "gold", region: "ap-east", replicas: 2, cpu: 8, memoryGiB: 64, iops: 16400},
  {name: "kestrel-vale-275", tier: "bronze", region: "eu-west", replicas: 7, cpu: 16, memoryGiB: 64, iops: 20000},
  {name: "indigo-alpha-276", tier: "gold", region: "us-east", replicas: 1, cpu: 4, memoryGiB: 128, iops: 19300},
  {name: "delta-fjord-277", tier: "gold", region: "us-east", replicas: 7, cpu: 4, memoryGiB: 32, iops: 5500},
  {name: "lumen-vale-278", tier: "gold", region: "us-west", replicas: 8, cpu: 8, memoryGiB: 32, iops: 10500},
  {name: "ember-sierra-279", tier: "silver", region: "ap-south", replicas: 3, cpu: 8, memoryGiB: 64, iops: 3400},
  {name: "lumen-lumen-280", tier: "silver", region: "ap-south", replicas: 7, cpu: 32, memoryGiB: 32, iops: 9700},
  {name: "ember-harbor-281", tier: "bronze", region: "ap-east", replicas: 4, cpu: 2, memoryGiB: 16, iops: 7000},
  {name: "cedar-zephyr-282", tier: "silver", region: "us-west", replicas: 4, cpu: 4, memoryGiB: 8, iops: 12200},
  {name: "xenon-willow-283", tier: "bronze", region: "eu-west", replicas: 2, cpu: 2, memoryGiB: 8, iops: 12500},
  {name: "fjord-ember-284", tier: "bronze", region: "eu-north", replicas: 7, cpu: 16, memoryGiB: 8, iops: 9700},
  {name: "meadow-bravo-285", tier: "gold", region: "ap-south", replicas: 2, cpu: 8, memoryGiB: 128, iops: 11500},
  {name: "indigo-indigo-286", tier: "bronze", region: "ap-south", replicas: 4, cpu: 8, memoryGiB: 128, iops: 18600},
  {name: "yarrow-ember-287", tier: "bronze", region: "us-west", replicas: 2, cpu: 2, memoryGiB: 64, iops: 14300},
  {name: "kestrel-fjord-288", tier: "silver", region: "ap-south", replicas: 7, cpu: 2, memoryGiB: 128, iops: 1700},
  {name: "raven-sierra-289", tier: "gold", region: "ap-south", replicas: 5, cpu: 4, memoryGiB: 32, iops: 12700},
  {name: "sierra-indigo-290", tier: "gold", region: "ap-south", replicas: 6, cpu: 4, memoryGiB: 32, iops: 18700},
  {name: "quartz-xenon-291", tier: "bronze", region: "ap-east", replicas: 9, cpu: 2, memoryGiB: 8, iops: 17800},
  {name: "yarrow-yarrow-292", tier: "bronze", region: "us-east", replicas: 5, cpu: 2, memoryGiB: 32, iops: 13700},
  {name: "bravo-sierra-293", tier: "gold", region: "eu-west", replicas: 2, cpu: 16, memoryGiB: 64, iops: 14800},
  {name: "alpha-nimbus-294", tier: "gold", region: "us-east", replicas: 7, cpu: 8, memoryGiB: 4, iops: 19100},
  {name: "kestrel-vale-295", tier: "bronze", region: "ap-south", replicas: 3, cpu: 4, memoryGiB: 8, iops: 3100},
  {name: "xenon-onyx-296", tier: "bronze", region: "ap-south", replicas: 8, cpu: 16, memoryGiB: 64, iops: 13800},
  {name: "kestrel-bravo-297", tier: "gold", region: "eu-north", replicas: 1, cpu: 8, memoryGiB: 8, iops: 9600},
  {name: "grove-tundra-298", tier: "silver", region: "us-west", replicas: 5, cpu: 8, memoryGiB: 8, iops: 19900},
  {name: "meadow-willow-299", tier: "bronze", region: "ap-south", replicas: 3, cpu: 8, memoryGiB: 4, iops: 14700},
  {name: "umber-quartz-300", tier: "bronze", region: "us-west", replicas: 9, cpu: 4, memoryGiB: 8, iops: 9100},
  {name: "sierra-grove-301", tier: "silver", region: "ap-south", replicas: 2, cpu: 16, memoryGiB: 16, iops: 8900},
  {name: "vale-willow-302", tier: "gold", region: "us-east", replicas: 5, cpu: 16, memoryGiB: 32, iops: 16000},
  {name: "meadow-indigo-303", tier: "gold", region: "us-east", replicas: 9, cpu: 8, memoryGiB: 32, iops: 3900},
  {name: "fjord-raven-304", tier: "bronze", region: "eu-north", replicas: 4, cpu: 8, memoryGiB: 8, iops: 1400},
  {name: "cedar-onyx-305", tier: "bronze", region: "us-east", replicas: 4, cpu: 2, memoryGiB: 32, iops: 14400},
  {name: "grove-quartz-306", tier: "silver", region: "eu-north", replicas: 9, cpu: 4, memoryGiB: 4, iops: 2700},
  {name: "quartz-lumen-307", tier: "gold", region: "ap-east", replicas: 5, cpu: 16, memoryGiB: 32, iops: 4200},
  {name: "harbor-fjord-308", tier: "bronze", region: "ap-south", replicas: 2, cpu: 16, memoryGiB: 8, iops: 14800},
  {name: "grove-xenon-309", tier: "silver", region: "ap-south", replicas: 7, cpu: 4, memoryGiB: 16, iops: 14200},
  {name: "delta-lumen-310", tier: "gold", region: "ap-south", replicas: 4, cpu: 4, memoryGiB: 128, iops: 12200},
  {name: "indigo-alpha-311", tier: "silver", region: "us-west", replicas: 6, cpu: 2, memoryGiB: 128, iops: 1500},
  {name: "kestrel-tundra-312", tier: "gold", region: "us-west", replicas: 7, cpu: 4, memoryGiB: 8, iops: 17300},
  {name: "onyx-indigo-313", tier: "silver", region: "eu-north", replicas: 6, cpu: 8, memoryGiB: 8, iops: 4400},
  {name: "prairie-delta-314", tier: "silver", region: "eu-west", replicas: 7, cpu: 2, memoryGiB: 32, iops: 18400},
  {name: "yarrow-grove-315", tier: "bronze", region: "us-west", replicas: 2, cpu: 2, memoryGiB: 16, iops: 15900},
  {name: "sierra-quartz-316", tier: "gold", region: "ap-east", replicas: 5, cpu: 2, memoryGiB: 16, iops: 10000},
  {name: "willow-yarrow-317", tier: "bronze", region: "us-east", replicas: 6, cpu: 2, memoryGiB: 4, iops: 3600},
  {name: "indigo-indigo-318", tier: "gold", region: "eu-west", replicas: 8, cpu: 8, memoryGiB: 8, iops: 6400},
  {name: "quartz-raven-319", tier: "gold", region: "ap-south", replicas: 1, cpu: 32, memoryGiB: 64, iops: 16200}
  ];

  function formatNumber(value) {
    var text = String(value);
    var out = "";
    while (text.length > 3) {
      out = "," + text.slice(-3) + out;
      text = text.slice(0, -3);
    }
    return text + out;
  }

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) {
      node.setAttribute(key, attributes[key]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function byTier(tier) {
    return SHARD_TYPES.filter(function (shard) {
      return shard.tier === tier;
    });
  }

  function summary(shards) {
    var replicas = 0;
    var cpu = 0;
    shards.forEach(function (shard) {
      replicas += shard.replicas;
      cpu += shard.cpu * shard.replicas;
    });
    return { count: shards.length, replicas: replicas, cpu: cpu };
  }

  function row(shard) {
    return element("tr", { "data-tier": shard.tier }, [
      element("td", {}, [shard.name]),
      element("td", {}, [shard.tier]),
      element("td", {}, [shard.region]),
      element("td", { class: "num" }, [formatNumber(shard.replicas)]),
      element("td", { class: "num" }, [formatNumber(shard.cpu)]),
      element("td", { class: "num" }, [formatNumber(shard.memoryGiB)]),
      element("td", { class: "num" }, [formatNumber(shard.iops)])
    ]);
  }

  function table(shards) {
    var head = element("tr", {}, ["name", "tier", "region", "replicas", "vCPU", "GiB", "IOPS"].map(
      function (title) {
        return element("th", {}, [title]);
      }
    ));
    return element("table", { class: "catalogue" }, [
      element("thead", {}, [head]),
      element("tbody", {}, shards.map(row))
    ]);
  }

  function render() {
    var root = document.getElementById("catalogue");
    var tiers = ["gold", "silver", "bronze"];
    var totals = element("ul", { class: "totals" }, tiers.map(function (tier) {
      var s = summary(byTier(tier));
      return element("li", {}, [tier + ": " + s.count + " types, " + formatNumber(s.replicas) +
        " replicas, " + formatNumber(s.cpu) + " vCPU"]);
    }));
    root.appendChild(totals);
    root.appendChild(table(SHARD_TYPES));
    document.documentElement.setAttribute("data-rendered", String(SHARD_TYPES.length));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", render);
  } else {
    render();
  }
})();
