"""The reference methods, as data. Every coefficient is cited to the publication it comes from.

Add a method by adding a `ButcherTableau` to `TABLEAUS`; the stepping engine
(`reference.rk_step`) and the loops (`reference.integrate`) need no change.
"""

from __future__ import annotations

from fractions import Fraction

from .tableau import ButcherTableau, DenseOutput, hermite_dense_output, nested_dense_output_P

HNW = "Hairer, Norsett, Wanner, Solving Ordinary Differential Equations I, 2nd ed. (1993)"

EULER = ButcherTableau.from_strings(
    "euler", c=["0"], a=[[]], b=["1"], order=1,
    source="Euler (1768); " + HNW + ", sec. II.1",
)

MIDPOINT = ButcherTableau.from_strings(
    "midpoint", c=["0", "1/2"], a=[[], ["1/2"]], b=["0", "1"], order=2,
    source="Runge (1895), explicit midpoint rule; " + HNW + ", sec. II.1, eq. (1.6)",
)

HEUN2 = ButcherTableau.from_strings(
    "heun2", c=["0", "1"], a=[[], ["1"]], b=["1/2", "1/2"], order=2,
    source="Heun (1900), explicit trapezoidal rule; " + HNW + ", sec. II.1, Table 1.1",
)

HEUN3 = ButcherTableau.from_strings(
    "heun3", c=["0", "1/3", "2/3"], a=[[], ["1/3"], ["0", "2/3"]], b=["1/4", "0", "3/4"], order=3,
    source="Heun (1900), third-order method; " + HNW + ", sec. II.1, Table 1.2",
)

RK4 = ButcherTableau.from_strings(
    "rk4", c=["0", "1/2", "1/2", "1"],
    a=[[], ["1/2"], ["0", "1/2"], ["0", "0", "1"]],
    b=["1/6", "1/3", "1/3", "1/6"], order=4,
    source="Kutta (1901), the classical Runge-Kutta method; " + HNW + ", sec. II.1, Table 1.2",
)

RK38 = ButcherTableau.from_strings(
    "rk38", c=["0", "1/3", "2/3", "1"],
    a=[[], ["1/3"], ["-1/3", "1"], ["1", "-1", "1"]],
    b=["1/8", "3/8", "3/8", "1/8"], order=4,
    source="Kutta (1901), the 3/8 rule; " + HNW + ", sec. II.1, Table 1.2",
)

_BOSH3_B = ["2/9", "1/3", "4/9", "0"]
BOSH3 = ButcherTableau.from_strings(
    "bosh3", c=["0", "1/2", "3/4", "1"],
    a=[[], ["1/2"], ["0", "3/4"], _BOSH3_B[:3]],
    b=_BOSH3_B, b_hat=["7/24", "1/4", "1/3", "1/8"],
    order=3, embedded_order=2, error_order=2, fsal=True,
    source="Bogacki & Shampine, A 3(2) pair of Runge-Kutta formulas, Appl. Math. Lett. 2 (1989) 321-325",
    # The pair's own continuous extension is the cubic Hermite interpolant through (y0, f0, y1, f1)
    # that its FSAL stage provides for free (Bogacki & Shampine 1989, sec. 3).
    dense=hermite_dense_output(
        [Fraction(x) for x in _BOSH3_B],
        source="cubic Hermite on y0, f0, y1, f1 (Bogacki & Shampine 1989)",
    ),
)

_DOPRI5_B = ["35/384", "0", "500/1113", "125/192", "-2187/6784", "11/84", "0"]
DOPRI5 = ButcherTableau.from_strings(
    "dopri5", c=["0", "1/5", "3/10", "4/5", "8/9", "1", "1"],
    a=[[],
       ["1/5"],
       ["3/40", "9/40"],
       ["44/45", "-56/15", "32/9"],
       ["19372/6561", "-25360/2187", "64448/6561", "-212/729"],
       ["9017/3168", "-355/33", "46732/5247", "49/176", "-5103/18656"],
       _DOPRI5_B[:6]],
    b=_DOPRI5_B,
    b_hat=["5179/57600", "0", "7571/16695", "393/640", "-92097/339200", "187/2100", "1/40"],
    order=5, embedded_order=4, error_order=4, fsal=True,
    source="Dormand & Prince, A family of embedded Runge-Kutta formulae, "
           "J. Comput. Appl. Math. 6 (1980) 19-26; " + HNW + ", sec. II.5, Table 5.2",
    # Fourth-order continuous extension of Shampine, Some practical Runge-Kutta formulas,
    # Math. Comp. 46 (1986) 135-150, as the stage polynomials b_i(theta); its theta^4 column is
    # Hairer's d_i of DOPRI5's dense output (HNW sec. II.6).
    dense=DenseOutput(
        P=tuple(tuple(Fraction(x) for x in row) for row in [
            ["1", "-8048581381/2820520608", "8663915743/2820520608", "-12715105075/11282082432"],
            ["0", "0", "0", "0"],
            ["0", "131558114200/32700410799", "-68118460800/10900136933", "87487479700/32700410799"],
            ["0", "-1754552775/470086768", "14199869525/1410260304", "-10690763975/1880347072"],
            ["0", "127303824393/49829197408", "-318862633887/49829197408", "701980252875/199316789632"],
            ["0", "-282668133/205662961", "2019193451/616988883", "-1453857185/822651844"],
            ["0", "40617522/29380423", "-110615467/29380423", "69997945/29380423"],
        ]),
        order=4,
        source="Shampine (1986), Math. Comp. 46, 135-150",
    ),
)

def _fracs(xs) -> list[Fraction]:
    return [Fraction(x) for x in xs]


def _poly(*factors) -> list[Fraction]:
    """Product of polynomials, each given by its coefficients (exact strings) in ascending powers."""
    out = [Fraction(1)]
    for f in factors:
        f = _fracs(f)
        prod = [Fraction(0)] * (len(out) + len(f) - 1)
        for i, x in enumerate(out):
            for j, y in enumerate(f):
                prod[i + j] += x * y
        out = prod
    return out


# ---------------------------------------------------------------------------------------- Tsit5
# Ch. Tsitouras, Runge-Kutta pairs of order 5(4) satisfying only the first column simplifying
# assumption, Comput. Math. Appl. 62 (2011) 770-775: the digits below are those the paper prints
# (16 significant digits for most entries), as reproduced alike by OrdinaryDiffEq.jl and diffrax;
# each is the correctly rounded value of the 86-digit coefficients in diffrax's tsit5.py. The
# first column is given by the row sums, a_i1 = c_i - sum_{j>=2} a_ij, which `_tsit5_row` applies
# in exact arithmetic to the printed c_i and a_ij (j >= 2). Row 7 is b (FSAL).
_TSIT5_C = ["0", "0.161", "0.327", "0.9", "0.9800255409045097", "1", "1"]
_TSIT5_A_FROM_COL2 = [  # a_ij, j = 2 .. i-1
    [],
    [],
    ["0.3354806554923570"],
    ["-6.359448489975075", "4.362295432869581"],
    ["-11.74888356406283", "7.495539342889836", "-0.09249506636175525"],
    ["-12.92096931784711", "8.159367898576159", "-0.07158497328140100", "-0.02826905039406838"],
]
_TSIT5_B = ["0.09646076681806523", "0.01", "0.4798896504144996", "1.379008574103742",
            "-3.290069515436081", "2.324710524099774", "0"]
# The paper's row headed b-hat holds, in its first six entries, the error weights b_i - bhat_i
# (the entries sum to 1/66, not to 0, and b - row is the 4th-order solution; Tsitouras's published
# pair has bhat_7 = 1/66, printed as the 7th entry). So bhat_i = b_i - row_i for i <= 6 and
# bhat_7 = 1/66: sum(bhat) = 1 - 1/66 + 1/66 = 1, and the error weights are (row_1..6, -1/66).
_TSIT5_ERROR_ROW = ["0.001780011052226", "0.000816434459657", "-0.007880878010262",
                    "0.144711007173263", "-0.582357165452555", "0.458082105929187"]
_TSIT5_B_HAT = [Fraction(b) - Fraction(e) for b, e in zip(_TSIT5_B, _TSIT5_ERROR_ROW)] + [Fraction(1, 66)]


def _tsit5_row(i: int) -> list[Fraction]:
    rest = _fracs(_TSIT5_A_FROM_COL2[i])
    return [Fraction(_TSIT5_C[i]) - sum(rest, Fraction(0))] + rest


# Tsitouras's continuous extension (same paper), order 4, printed there in factored form:
#   b_1(t) = -1.0530884977290216 t (t - 1.3299890189751412)(t^2 - 1.4364028541716351 t + 0.7139816917074209)
#   b_2(t) = 0.1017 t^2 (t^2 - 2.1966568338249754 t + 1.2949852507374631)
#   b_3(t) = 2.490627285651252793 t^2 (t^2 - 2.38535645472061657 t + 1.57803468208092486)
#   b_4(t) = -16.54810288924490272 (t - 1.21712927295533244)(t - 0.61620406037800089) t^2
#   b_5(t) = 47.37952196281928122 (t - 1.203071208372362603)(t - 0.658047292653547382) t^2
#   b_6(t) = -34.87065786149660974 (t - 1.2)(t - 0.666666666666666667) t^2
#   b_7(t) = 2.5 (t - 1)(t - 0.6) t^2
# multiplied out exactly below (coefficients in ascending powers of t; P drops the zero t^0 term).
_TSIT5_DENSE_POLYS = [
    _poly(["0", "-1.0530884977290216"], ["-1.3299890189751412", "1"],
          ["0.7139816917074209", "-1.4364028541716351", "1"]),
    _poly(["0", "0", "0.1017"], ["1.2949852507374631", "-2.1966568338249754", "1"]),
    _poly(["0", "0", "2.490627285651252793"], ["1.57803468208092486", "-2.38535645472061657", "1"]),
    _poly(["0", "0", "-16.54810288924490272"], ["-1.21712927295533244", "1"], ["-0.61620406037800089", "1"]),
    _poly(["0", "0", "47.37952196281928122"], ["-1.203071208372362603", "1"], ["-0.658047292653547382", "1"]),
    _poly(["0", "0", "-34.87065786149660974"], ["-1.2", "1"], ["-0.666666666666666667", "1"]),
    _poly(["0", "0", "2.5"], ["-1", "1"], ["-0.6", "1"]),
]

TSIT5 = ButcherTableau.from_strings(
    "tsit5", c=_TSIT5_C,
    a=[_tsit5_row(i) for i in range(6)] + [_TSIT5_B[:6]],
    b=_TSIT5_B, b_hat=_TSIT5_B_HAT,
    order=5, embedded_order=4, error_order=4, fsal=True,
    source="Tsitouras, Runge-Kutta pairs of order 5(4) satisfying only the first column simplifying "
           "assumption, Comput. Math. Appl. 62 (2011) 770-775, Table 1",
    dense=DenseOutput(
        P=tuple(tuple(p[1:5]) for p in _TSIT5_DENSE_POLYS),
        order=4,
        source="Tsitouras (2011), Comput. Math. Appl. 62, 770-775: the pair's continuous extension",
    ),
    # The paper prints 16 significant digits (the error row 15 decimals, the interpolant's factors
    # 17-20), so its largest entries (a_52 = -11.74888356406283, a_62) are exact only to 5e-15, and
    # the derived a_i1 = c_i - sum_j a_ij, b_hat = b - row and expanded b_i(theta) inherit at most
    # ~6e-15: 1e-14 bounds the rounding of every coefficient. In exact arithmetic the construction
    # checks here miss by at most 8.5e-16 (the error row sums to 1/66 + 8.5e-16). The interpolant's
    # order conditions miss by up to 3.2e-14 (its weights reach |P| = 88 and amplify the rounding
    # of the a_ij; with 86-digit a_ij they miss by 2e-15), within the rounding bounds that
    # `reference.order_conditions` derives from this tolerance.
    coefficient_tolerance="1e-14",
)


# --------------------------------------------------------------------------------------- DOP853
# Hairer's DOP853, the Dormand-Prince 8(5,3) pair with its 7th-order dense output; HNW sec. II.10
# and Hairer's Fortran code dop853.f (http://www.unige.ch/~hairer/prog/nonstiff/dop853.f,
# subroutine DP86CO), whose parameter statements print every coefficient to about 30 significant
# digits; all the digits below are those of dop853.f (read in the copy at
# github.com/cpmech/hwode/blob/2fb5fbea51b65b0576c13b7ffaa61df43cdfdb76/dop853.f, Fortran D
# exponents written as e). scipy/integrate/_ivp/dop853_coefficients.py carries the same numbers.
# Stages are numbered 1..16 as in HNW. dop853.f reuses its work arrays: in the code K2, K3, K4 hold
# stages 11, 12 and 13 = f(x + h, y1) when the dense output is formed, and K10, K2, K3 then hold
# the extra stages 14, 15, 16; the rows below use the stage numbers.
_DOP853_C = [
    "0",
    "0.526001519587677318785587544488e-01",  # c2
    "0.789002279381515978178381316732e-01",  # c3
    "0.118350341907227396726757197510e+00",  # c4
    "0.281649658092772603273242802490e+00",  # c5
    "0.333333333333333333333333333333e+00",  # c6
    "0.25e+00",                              # c7
    "0.307692307692307692307692307692e+00",  # c8
    "0.651282051282051282051282051282e+00",  # c9
    "0.6e+00",                               # c10
    "0.857142857142857142857142857142e+00",  # c11
    "1",                                     # c12: stage 12 is evaluated at x + h
    "1",                                     # c13: f(x + h, y1), FSAL
]
_DOP853_B = [
    "5.42937341165687622380535766363e-2",   # b1
    "0", "0", "0", "0",
    "4.45031289275240888144113950566e0",    # b6
    "1.89151789931450038304281599044e0",    # b7
    "-5.8012039600105847814672114227e0",    # b8
    "3.1116436695781989440891606237e-1",    # b9
    "-1.52160949662516078556178806805e-1",  # b10
    "2.01365400804030348374776537501e-1",   # b11
    "4.47106157277725905176885569043e-2",   # b12
    "0",                                    # b13
]
_DOP853_A = [
    [],
    ["5.26001519587677318785587544488e-2"],                                        # a21
    ["1.97250569845378994544595329183e-2", "5.91751709536136983633785987549e-2"],  # a31 a32
    ["2.95875854768068491816892993775e-2", "0", "8.87627564304205475450678981324e-2"],  # a41 a43
    ["2.41365134159266685502369798665e-1", "0", "-8.84549479328286085344864962717e-1",  # a51 a53
     "9.24834003261792003115737966543e-1"],                                          # a54
    ["3.7037037037037037037037037037e-2", "0", "0", "1.70828608729473871279604482173e-1",  # a61 a64
     "1.25467687566822425016691814123e-1"],                                          # a65
    ["3.7109375e-2", "0", "0", "1.70252211019544039314978060272e-1",                # a71 a74
     "6.02165389804559606850219397283e-2", "-1.7578125e-2"],                         # a75 a76
    ["3.70920001185047927108779319836e-2", "0", "0", "1.70383925712239993810214054705e-1",  # a81 a84
     "1.07262030446373284651809199168e-1", "-1.53194377486244017527936158236e-2",    # a85 a86
     "8.27378916381402288758473766002e-3"],                                          # a87
    ["6.24110958716075717114429577812e-1", "0", "0", "-3.36089262944694129406857109825e0",  # a91 a94
     "-8.68219346841726006818189891453e-1", "2.75920996994467083049415600797e1",     # a95 a96
     "2.01540675504778934086186788979e1", "-4.34898841810699588477366255144e1"],     # a97 a98
    ["4.77662536438264365890433908527e-1", "0", "0", "-2.48811461997166764192642586468e0",  # a10,1 a10,4
     "-5.90290826836842996371446475743e-1", "2.12300514481811942347288949897e1",     # a10,5 a10,6
     "1.52792336328824235832596922938e1", "-3.32882109689848629194453265587e1",      # a10,7 a10,8
     "-2.03312017085086261358222928593e-2"],                                         # a10,9
    ["-9.3714243008598732571704021658e-1", "0", "0", "5.18637242884406370830023853209e0",  # a11,1 a11,4
     "1.09143734899672957818500254654e0", "-8.14978701074692612513997267357e0",      # a11,5 a11,6
     "-1.85200656599969598641566180701e1", "2.27394870993505042818970056734e1",      # a11,7 a11,8
     "2.49360555267965238987089396762e0", "-3.0467644718982195003823669022e0"],      # a11,9 a11,10
    ["2.27331014751653820792359768449e0", "0", "0", "-1.05344954667372501984066689879e1",  # a12,1 a12,4
     "-2.00087205822486249909675718444e0", "-1.79589318631187989172765950534e1",     # a12,5 a12,6
     "2.79488845294199600508499808837e1", "-2.85899827713502369474065508674e0",      # a12,7 a12,8
     "-8.87285693353062954433549289258e0", "1.23605671757943030647266201528e1",      # a12,9 a12,10
     "6.43392746015763530355970484046e-1"],                                          # a12,11
    _DOP853_B[:12],                                                                  # row 13 = b
]
# Embedded solutions. dop853.f estimates err5 = h sum_i ER_i k_i and
# err3 = h (sum_i b_i k_i - BHH1 k_1 - BHH2 k_9 - BHH3 k_12); scipy calls the same weights E5 and E3.
# So the 5th-order weights are b - ER and the 3rd-order ones are BHH.
_DOP853_ER = [
    "0.1312004499419488073250102996e-01",   # er1
    "0", "0", "0", "0",
    "-0.1225156446376204440720569753e+01",  # er6
    "-0.4957589496572501915214079952e+00",  # er7
    "0.1664377182454986536961530415e+01",   # er8
    "-0.3503288487499736816886487290e+00",  # er9
    "0.3341791187130174790297318841e+00",   # er10
    "0.8192320648511571246570742613e-01",   # er11
    "-0.2235530786388629525884427845e-01",  # er12
    "0",
]
_DOP853_BHH = [
    "0.244094488188976377952755905512e+00",  # bhh1 (stage 1)
    "0", "0", "0", "0", "0", "0", "0",
    "0.733846688281611857341361741547e+00",  # bhh2 (stage 9)
    "0", "0",
    "0.220588235294117647058823529412e-01",  # bhh3 (stage 12)
    "0",
]
# Extra stages for the dense output (dop853.f, a14j, a15j, a16j; c14, c15, c16).
_DOP853_C_EXTRA = ["0.1e+00", "0.2e+00", "0.777777777777777777777777777778e+00"]
_DOP853_A_EXTRA = [
    ["5.61675022830479523392909219681e-2", "0", "0", "0", "0", "0",                  # a14,1
     "2.53500210216624811088794765333e-1", "-2.46239037470802489917441475441e-1",    # a14,7 a14,8
     "-1.24191423263816360469010140626e-1", "1.5329179827876569731206322685e-1",     # a14,9 a14,10
     "8.20105229563468988491666602057e-3", "7.56789766054569976138603589584e-3",     # a14,11 a14,12
     "-8.298e-3"],                                                                   # a14,13
    ["3.18346481635021405060768473261e-2", "0", "0", "0", "0",                       # a15,1
     "2.83009096723667755288322961402e-2", "5.35419883074385676223797384372e-2",     # a15,6 a15,7
     "-5.49237485713909884646569340306e-2", "0", "0",                                # a15,8
     "-1.08347328697249322858509316994e-4", "3.82571090835658412954920192323e-4",    # a15,11 a15,12
     "-3.40465008687404560802977114492e-4", "1.41312443674632500278074618366e-1"],   # a15,13 a15,14
    ["-4.28896301583791923408573538692e-1", "0", "0", "0", "0",                      # a16,1
     "-4.69762141536116384314449447206e0", "7.68342119606259904184240953878e0",      # a16,6 a16,7
     "4.06898981839711007970213554331e0", "3.56727187455281109270669543021e-1",      # a16,8 a16,9
     "0", "0", "0",
     "-1.39902416515901462129418009734e-3", "2.9475147891527723389556272149e0",      # a16,13 a16,14
     "-9.15095847217987001081870187138e0"],                                          # a16,15
]


def _dop853_d(d: dict[int, str]) -> list[Fraction]:
    """A row of dop853.f's dense-output coefficients d_{m,i}, keyed by stage number 1..16."""
    return [Fraction(d.get(i, "0")) for i in range(1, 17)]


_DOP853_D = [
    _dop853_d({1: "-0.84289382761090128651353491142e+01", 6: "0.56671495351937776962531783590e+00",
               7: "-0.30689499459498916912797304727e+01", 8: "0.23846676565120698287728149680e+01",
               9: "0.21170345824450282767155149946e+01", 10: "-0.87139158377797299206789907490e+00",
               11: "0.22404374302607882758541771650e+01", 12: "0.63157877876946881815570249290e+00",
               13: "-0.88990336451333310820698117400e-01", 14: "0.18148505520854727256656404962e+02",
               15: "-0.91946323924783554000451984436e+01", 16: "-0.44360363875948939664310572000e+01"}),
    _dop853_d({1: "0.10427508642579134603413151009e+02", 6: "0.24228349177525818288430175319e+03",
               7: "0.16520045171727028198505394887e+03", 8: "-0.37454675472269020279518312152e+03",
               9: "-0.22113666853125306036270938578e+02", 10: "0.77334326684722638389603898808e+01",
               11: "-0.30674084731089398182061213626e+02", 12: "-0.93321305264302278729567221706e+01",
               13: "0.15697238121770843886131091075e+02", 14: "-0.31139403219565177677282850411e+02",
               15: "-0.93529243588444783865713862664e+01", 16: "0.35816841486394083752465898540e+02"}),
    _dop853_d({1: "0.19985053242002433820987653617e+02", 6: "-0.38703730874935176555105901742e+03",
               7: "-0.18917813819516756882830838328e+03", 8: "0.52780815920542364900561016686e+03",
               9: "-0.11573902539959630126141871134e+02", 10: "0.68812326946963000169666922661e+01",
               11: "-0.10006050966910838403183860980e+01", 12: "0.77771377980534432092869265740e+00",
               13: "-0.27782057523535084065932004339e+01", 14: "-0.60196695231264120758267380846e+02",
               15: "0.84320405506677161018159903784e+02", 16: "0.11992291136182789328035130030e+02"}),
    _dop853_d({1: "-0.25693933462703749003312586129e+02", 6: "-0.15418974869023643374053993627e+03",
               7: "-0.23152937917604549567536039109e+03", 8: "0.35763911791061412378285349910e+03",
               9: "0.93405324183624310003907691704e+02", 10: "-0.37458323136451633156875139351e+02",
               11: "0.10409964950896230045147246184e+03", 12: "0.29840293426660503123344363579e+02",
               13: "-0.43533456590011143754432175058e+02", 14: "0.96324553959188282948394950600e+02",
               15: "-0.39177261675615439165231486172e+02", 16: "-0.14972683625798562581422125276e+03"}),
]


def _dop853_dense_P():
    """dop853.f's dense output (CONT(1..8) = rcont1..rcont8) as stage polynomials.

    rcont1 = y0, rcont2 = y1 - y0 = h sum b_i k_i, rcont3 = h k_1 - rcont2,
    rcont4 = rcont2 - h k_13 - rcont3, rcont5..8 = h sum_i d_{4..7,i} k_i over the 16 stages, and
    y(x + theta h) = rcont1 + theta (rcont2 + (1 - theta) (rcont3 + theta (rcont4 + ... ))).
    """
    n = 16
    unit = lambda k: [Fraction(int(i == k)) for i in range(n)]  # noqa: E731  (stage k+1)
    r2 = _fracs(_DOP853_B) + [Fraction(0)] * 3
    r3 = [e - b for e, b in zip(unit(0), r2)]
    r4 = [b - f - c for b, f, c in zip(r2, unit(12), r3)]
    return nested_dense_output_P([r2, r3, r4, *_DOP853_D])


DOP853 = ButcherTableau.from_strings(
    "dop853", c=_DOP853_C, a=_DOP853_A, b=_DOP853_B,
    b_hat=[Fraction(b) - Fraction(e) for b, e in zip(_DOP853_B, _DOP853_ER)], embedded_order=5,
    b_hat_secondary=_DOP853_BHH, secondary_order=3,
    # The controller combines both estimates as err5^2 / sqrt(err5^2 + 0.01 err3^2) ~ h^8.
    order=8, error_order=7, fsal=True,
    source="Dormand & Prince's 8(5,3) pair as given in " + HNW + ", sec. II.10; coefficients of "
           "Hairer's dop853.f",
    dense=DenseOutput(
        P=_dop853_dense_P(),
        order=7,
        source=HNW + ", sec. II.10 (DOP853's dense output, three extra stages); dop853.f",
        a_extra=tuple(tuple(_fracs(row)) for row in _DOP853_A_EXTRA),
        c_extra=tuple(_fracs(_DOP853_C_EXTRA)),
    ),
    # dop853.f prints 28-30 significant digits, so its largest coefficients (d_68 = 527.8...) are
    # exact only to ~5e-27, and an entry of P (up to 545), a combination of up to four d's with
    # small integer factors, to ~6e-26: 1e-24 bounds the rounding of every coefficient with
    # margin. In exact arithmetic the construction checks here miss by at most 2.4e-26
    # (sum_i b_i(theta) = theta), the order conditions of b, b_hat and b_hat_secondary by at most
    # 4.7e-28 and those of the interpolant (orders 1-7) by at most 3.1e-26.
    coefficient_tolerance="1e-24",
)

TABLEAUS: dict[str, ButcherTableau] = {
    t.name: t for t in (EULER, MIDPOINT, HEUN2, HEUN3, RK4, RK38, BOSH3, DOPRI5, TSIT5, DOP853)
}
"""Every method `reference.odeint` knows, by name."""

FIXED_STEP_METHODS = tuple(n for n, t in TABLEAUS.items() if not t.adaptive)
ADAPTIVE_METHODS = tuple(n for n, t in TABLEAUS.items() if t.adaptive)
