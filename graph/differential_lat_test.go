package graph_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestDifferentialPrint(t *testing.T) {
	seed, _ := strconv.Atoi(os.Getenv("SEED"))
	s, r := generateCase(rand.New(rand.NewPCG(uint64(seed), 0)))
	fmt.Println(s)
	fmt.Println(strings.Join(r, "\n"))
}
